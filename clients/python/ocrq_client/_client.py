"""The hand-written layer over the generated client: the calls a scanner app or a WMS makes, with the
waiting, paging and retrying done once, here.

Every request is built by the generated endpoint module (its ``_get_kwargs``: path, parameters,
headers, body) and every JSON answer read by it (``_parse_response``: the model for that status),
so paths, fields and answers all come from /openapi.json; what is written here is how a request is
sent: the key, timeouts, retries, and errors as exceptions.

Retries: 429 and 503 (and 409 ``idempotent_request_in_progress``) are retried after their
Retry-After; a connection that could not be made is retried with a backoff; a request that was
sent but got no answer is retried only where repeating it is harmless (GET, DELETE, and a submit,
which always carries an Idempotency-Key).
"""

from __future__ import annotations

import datetime
import io
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Literal, TypeVar, cast, overload

import httpx

from ocrq_client.errors import ApiError, BatchTimeout, JobTimeout, TransportError
from ocrq_client.generated import AuthenticatedClient
from ocrq_client.generated.api.batches import (
    cancel_batch,
    create_batch,
    get_batch,
    get_batch_failures,
    retry_batch_failures,
)
from ocrq_client.generated.api.jobs import cancel_job, get_job, get_job_result, list_jobs, submit_job
from ocrq_client.generated.api.webhooks import create_webhook, reveal_default_webhook_secret
from ocrq_client.generated.models import (
    BatchCreate,
    BatchOut,
    DryRunOut,
    EndpointCreate,
    EndpointOut,
    FailureList,
    JobList,
    JobOut,
    JobUpload,
    OcrResult,
    OutputIn,
    RetryOut,
    SecretOut,
    SourceIn,
)
from ocrq_client.generated.types import UNSET, File, Unset
from ocrq_client.webhooks import verify_webhook

__version__ = "0.1.0"

FINAL = frozenset({"succeeded", "failed", "canceled"})
BATCH_FINAL = frozenset({"completed", "canceled"})
ResultFormat = Literal["json", "text", "markdown", "hocr", "pdf"]
T = TypeVar("T")


class _Auto:
    def __repr__(self) -> str:
        return "AUTO"


AUTO: Any = _Auto()  # idempotency_key=AUTO: a fresh key per submit() call, sent with each of its retries


def _opt(value: T | None) -> T | Unset:
    """An absent option stays off the wire (the gateway's default), never a JSON null."""
    return UNSET if value is None else value


def parse_bucket_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` (or ``bucket/prefix``) -> (bucket, prefix)."""
    rest = url[len("s3://"):] if url.startswith("s3://") else url
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"not a bucket URL: {url!r} (use s3://bucket/prefix)")
    return bucket, prefix


class Client:
    """A client of one ocrq gateway with one API key.

        client = Client("http://127.0.0.1:8080", "ocrq_...")
        job = client.submit("scan.jpg", task="text")
        job = client.wait(job.id, timeout=120)        # one long-poll at a time, answered on finish
        print(job.result.text)
        pdf = client.result(job.id, format="pdf")     # bytes

    ``retries``: how many times a request is sent again (429/503, a connection refused);
    ``max_retry_wait_s``: the longest Retry-After obeyed (a longer one is cut to it);
    ``timeout_s``: per request (a long-poll adds its wait to it). The generated client under it is
    ``client.api``, for the operations without a method here (``ocrq_client.generated.api.*``).
    """

    verify_webhook = staticmethod(verify_webhook)

    def __init__(self, url: str, api_key: str, *, timeout_s: float = 60.0, retries: int = 3,
                 max_retry_wait_s: float = 30.0, long_poll_s: int = 20,
                 sleep: Callable[[float], None] = time.sleep, httpx_args: Mapping[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_retry_wait_s = max_retry_wait_s
        self.long_poll_s = long_poll_s
        self._sleep = sleep
        self.api = AuthenticatedClient(
            base_url=self.url, token=api_key, timeout=httpx.Timeout(timeout_s),
            headers={"User-Agent": f"ocrq-client/{__version__}"}, httpx_args=dict(httpx_args or {}),
        )

    def close(self) -> None:
        self.api.get_httpx_client().close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ jobs
    def submit(self, file: str | os.PathLike[str] | bytes | IO[bytes], *, task: str = "text",
               idempotency_key: str | None = AUTO, filename: str | None = None,
               fields: Sequence[str] | str | None = None, target_lang: str | None = None,
               instruction: str | None = None, priority: str | None = None,
               metadata: Mapping[str, Any] | str | None = None, webhook_url: str | None = None,
               barcodes: str | None = None, quality: str | None = None, pages: str | None = None) -> JobOut:
        """POST /v1/jobs with an image or a document (a path, bytes or a binary file): the job, 202 queued
        (or 200, the same job, when ``idempotency_key`` was used before). ``idempotency_key``: AUTO makes
        one for this call, so its own retries can never create two jobs; pass your own (a scan's id) to
        make resubmits from anywhere safe for 24 h; None sends none."""
        if isinstance(file, bytes):
            data, name = file, filename or "upload"
        elif isinstance(file, (str, os.PathLike)):
            data, name = Path(file).read_bytes(), filename or Path(file).name
        else:
            data, name = file.read(), filename or Path(str(getattr(file, "name", "upload"))).name
        if isinstance(fields, str) or fields is None:
            fields_text = fields
        else:
            fields_text = ",".join(fields)
        meta = metadata if isinstance(metadata, str) or metadata is None else _json(metadata)
        key = str(uuid.uuid4()) if idempotency_key is AUTO else idempotency_key

        def build() -> dict[str, Any]:
            body = JobUpload(
                file=File(payload=io.BytesIO(data), file_name=name, mime_type="application/octet-stream"),
                task=cast(Any, task), fields=_opt(fields_text), target_lang=cast(Any, _opt(target_lang)),
                instruction=_opt(instruction), priority=cast(Any, _opt(priority)), metadata=_opt(meta),
                webhook_url=_opt(webhook_url), barcodes=cast(Any, _opt(barcodes)),
                quality=cast(Any, _opt(quality)), pages=_opt(pages),
            )
            return submit_job._get_kwargs(body=body, idempotency_key=_opt(key))

        return cast(JobOut, self._parsed(submit_job, build, idempotent=key is not None))

    def job(self, job_id: str, *, wait: float = 0) -> JobOut:
        """GET /v1/jobs/{id}; ``wait``: hold the request up to that many seconds for a final state."""
        return cast(JobOut, self._parsed(get_job, lambda: get_job._get_kwargs(job_id, wait=wait),
                                         timeout_s=self.timeout_s + wait))

    def wait(self, job_id: str, timeout: float = 300.0) -> JobOut:
        """The job once it is final (succeeded, failed, canceled), by long-polls of at most
        ``long_poll_s`` each; ``JobTimeout`` (with ``.job``) when it is not final after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            job = self.job(job_id, wait=max(0, min(self.long_poll_s, int(left))))
            if job.status in FINAL:
                return job
            if left <= 0:
                raise JobTimeout(job, timeout)

    @overload
    def result(self, job_id: str, format: Literal["json"] = "json") -> OcrResult: ...
    @overload
    def result(self, job_id: str, format: Literal["text", "markdown", "hocr", "pdf"]) -> bytes: ...
    @overload
    def result(self, job_id: str, format: str) -> OcrResult | bytes: ...

    def result(self, job_id: str, format: str = "json") -> OcrResult | bytes:  # noqa: A002 - the API's name
        """GET /v1/jobs/{id}/result: the result document (json), or the bytes of text, markdown, hocr
        or a searchable pdf. ``ApiError`` 404 ``result_not_available`` (with ``retry_after``) while the
        job runs, 409 once it failed."""
        if format == "json":
            return cast(OcrResult, self._parsed(get_job_result, lambda: get_job_result._get_kwargs(job_id)))
        return self.result_bytes(job_id, format)

    def result_bytes(self, job_id: str, format: str = "json") -> bytes:  # noqa: A002 - the API's name
        """The result in ``format`` as the gateway sent it (json too: its own bytes, to store or forward)."""
        return self._send(lambda: get_job_result._get_kwargs(job_id, format_=cast(Any, format))).content

    def iter_jobs(self, *, status: str | None = None, needs_review: bool | None = None,
                  created_after: datetime.datetime | None = None, created_before: datetime.datetime | None = None,
                  task: str | None = None, priority: str | None = None, batch_id: str | None = None,
                  page_size: int = 100) -> Iterator[JobOut]:
        """Every job of the tenant matching the filters, newest first, one page (GET /v1/jobs) at a time."""
        cursor: str | None = None
        while True:
            def build(cursor: str | None = cursor) -> dict[str, Any]:
                return list_jobs._get_kwargs(
                    status=cast(Any, _opt(status)), needs_review=_opt(needs_review), created_after=_opt(created_after),
                    created_before=_opt(created_before), task=cast(Any, _opt(task)),
                    priority=cast(Any, _opt(priority)), batch_id=_opt(batch_id), limit=page_size,
                    cursor=_opt(cursor))

            page = cast(JobList, self._parsed(list_jobs, build))
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def cancel(self, job_id: str) -> JobOut:
        """DELETE /v1/jobs/{id}: cancel a queued job (or a running document's pages not yet started)."""
        return cast(JobOut, self._parsed(cancel_job, lambda: cancel_job._get_kwargs(job_id)))

    # ------------------------------------------------------------------ batches
    def backfill(self, source: str, out: str, *, task: str = "text", glob: str | None = None,
                 manifest: str | None = None, manifest_text: str | None = None, manifest_format: str | None = None,
                 formats: str | Sequence[str] | None = None, fields: Sequence[str] | None = None,
                 target_lang: str | None = None, instruction: str | None = None, webhook_url: str | None = None,
                 window: int | None = None, dry_run: bool = False,
                 dry_run_limit: int | None = None) -> BatchOut | DryRunOut:
        """POST /v1/batches: OCR every object under ``source`` (``s3://bucket/prefix``), or those a
        ``manifest`` lists (a key in that bucket, or ``s3://`` in it) or ``manifest_text`` carries,
        writing to ``out`` (``s3://bucket/prefix``) in ``formats`` (json, pdf, hocr, text, markdown).
        The batch (202), or with ``dry_run`` what would run, be skipped and fail (200)."""
        bucket, prefix = parse_bucket_url(source)
        out_bucket, out_prefix = parse_bucket_url(out)
        src = SourceIn(bucket=bucket)
        if manifest is not None:
            if manifest.startswith("s3://"):
                manifest_bucket, manifest = parse_bucket_url(manifest)
                if manifest_bucket != bucket:
                    raise ValueError("the manifest must be in the source bucket")
            src.manifest = manifest
        elif manifest_text is not None:
            src.manifest_text = manifest_text
        else:
            src.prefix = prefix
            src.glob = _opt(glob)
        src.manifest_format = cast(Any, _opt(manifest_format))
        body = BatchCreate(
            source=src, output=OutputIn(bucket=out_bucket, prefix=out_prefix), task=task,
            fields=_opt(list(fields) if fields is not None else None), target_lang=cast(Any, _opt(target_lang)),
            instruction=_opt(instruction), webhook_url=_opt(webhook_url), window=_opt(window),
            output_format=cast(Any, _opt(formats if isinstance(formats, str) or formats is None else list(formats))),
        )
        if dry_run:
            body.dry_run = True
            body.dry_run_limit = _opt(dry_run_limit)
        return cast(BatchOut | DryRunOut, self._parsed(create_batch, lambda: create_batch._get_kwargs(body=body)))

    def batch(self, batch_id: str) -> BatchOut:
        """GET /v1/batches/{id}: status, counts, throughput and ETA."""
        return cast(BatchOut, self._parsed(get_batch, lambda: get_batch._get_kwargs(batch_id)))

    def wait_batch(self, batch_id: str, timeout: float = 24 * 3600.0, *, poll_s: float = 1.0,
                   on_progress: Callable[[BatchOut], None] | None = None) -> BatchOut:
        """The batch once completed or canceled, read every ``poll_s`` (each read handed to
        ``on_progress``); ``BatchTimeout`` (with ``.batch``) after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        batch: BatchOut | None = None
        while time.monotonic() < deadline:
            batch = self.batch(batch_id)
            if on_progress is not None:
                on_progress(batch)
            if batch.status in BATCH_FINAL:
                return batch
            self._sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
        raise BatchTimeout(batch if batch is not None else self.batch(batch_id), timeout)

    def cancel_batch(self, batch_id: str) -> BatchOut:
        return cast(BatchOut, self._parsed(cancel_batch, lambda: cancel_batch._get_kwargs(batch_id)))

    def batch_failures(self, batch_id: str, *, limit: int = 100, cursor: str = "0") -> FailureList:
        """One page of a batch's failed items (``next_cursor`` for the next one)."""
        return cast(FailureList, self._parsed(
            get_batch_failures, lambda: get_batch_failures._get_kwargs(batch_id, limit=limit, cursor=cursor)))

    def retry_failed(self, batch_id: str) -> RetryOut:
        """POST /v1/batches/{id}/retry-failed: queue the retryable failed items again."""
        return cast(RetryOut, self._parsed(retry_batch_failures,
                                           lambda: retry_batch_failures._get_kwargs(batch_id)))

    # ------------------------------------------------------------------ webhooks
    def create_webhook(self, url: str, events: Sequence[str] | None = None,
                       description: str | None = None) -> EndpointOut:
        """POST /v1/webhooks: register an endpoint; ``.secret`` (shown this once) verifies its deliveries."""
        body = EndpointCreate(url=url, events=cast(Any, _opt(list(events) if events else None)),
                              description=_opt(description))
        return cast(EndpointOut, self._parsed(create_webhook, lambda: create_webhook._get_kwargs(body=body)))

    def default_webhook_secret(self) -> str:
        """POST /v1/webhooks/default-secret: the secret of jobs' own ``webhook_url`` deliveries (once)."""
        out = cast(SecretOut, self._parsed(reveal_default_webhook_secret, reveal_default_webhook_secret._get_kwargs))
        return out.secret

    # ------------------------------------------------------------------ sending
    def _parsed(self, endpoint: ModuleType, build: Callable[[], dict[str, Any]], *, idempotent: bool | None = None,
                timeout_s: float | None = None) -> Any:
        resp = self._send(build, idempotent=idempotent, timeout_s=timeout_s)
        return endpoint._parse_response(client=self.api, response=resp)

    def _send(self, build: Callable[[], dict[str, Any]], *, idempotent: bool | None = None,
              timeout_s: float | None = None) -> httpx.Response:
        """Send what ``build`` describes (built again for each attempt: an upload is read from the start)
        with the retries above; the answer if 2xx, else ``ApiError``; ``TransportError`` when no answer came."""
        http = self.api.get_httpx_client()
        for attempt in range(self.retries + 1):
            request = build()
            if "files" in request:  # let httpx pick a random multipart boundary (the generator fixes one)
                headers = request.get("headers", {})
                request["headers"] = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            safe = idempotent if idempotent is not None else request["method"].upper() in ("GET", "HEAD", "DELETE")
            try:
                resp = http.request(**request, timeout=timeout_s or self.timeout_s)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
                last: Exception = err  # nothing was sent: always safe to send again
            except httpx.TransportError as err:
                if not safe:
                    raise TransportError(f"no answer from {self.url}{request['url']}: {err!r}") from err
                last = err
            else:
                if attempt < self.retries and _retryable(resp):
                    delay = ApiError(resp).retry_after
                    self._sleep(min(1.0 if delay is None else delay, self.max_retry_wait_s))
                    continue
                if resp.is_success:
                    return resp
                raise ApiError(resp)
            if attempt < self.retries:
                self._sleep(min(0.5 * 2**attempt, 5.0))
        raise TransportError(f"cannot reach {self.url}{request['url']}: {last}") from last


def _retryable(resp: httpx.Response) -> bool:
    if resp.status_code in (429, 503):
        return True
    return resp.status_code == 409 and ApiError(resp).code == "idempotent_request_in_progress"


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), separators=(",", ":"), ensure_ascii=False)
