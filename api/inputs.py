"""What a request names, read the same way by every blueprint: a task spec, the tenant's job."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from api.context import services, tenant
from api.problems import InvalidTaskParams, TaskNotSupported, UnknownTask
from shared import errors
from shared.engines import UnsupportedTask, check_engine_supports
from shared.infra.blobs import BlobNotFound
from shared.jobs.model import Job, Status, now_ms
from shared.jobs.task_spec import BARCODES_OPTIONS, TASK_NAMES, TaskSpec
from shared.results.model import OcrResult


def parse_spec(values: dict[str, Any]) -> TaskSpec:
    try:
        spec = TaskSpec(
            task=values.get("task") or "text",
            fields=tuple(values["fields"]) if values.get("fields") else None,
            target_lang=values.get("target_lang") or None,
            instruction=values.get("instruction") or None,
            barcodes=values.get("barcodes") or None,
            review=values.get("review") or None,
            review_below=values.get("review_below"),
        )
    except ValidationError as err:
        first = err.errors()[0]
        if first.get("loc") == ("task",):
            raise UnknownTask(f"unknown task {values.get('task')!r}; use one of: {', '.join(TASK_NAMES)}") from None
        if first.get("loc") == ("barcodes",):
            message = f"must be one of: {', '.join(BARCODES_OPTIONS)}"
            raise errors.ValidationFailed("barcodes", message) from None
        raise InvalidTaskParams(first.get("msg", "invalid").removeprefix("Value error, ")) from None
    try:
        check_engine_supports(services().settings.engine, spec)
    except UnsupportedTask as err:
        raise TaskNotSupported(str(err)) from None
    return spec


def load_result(job: Job) -> OcrResult | None:
    if job.status != Status.succeeded or not job.result_key:
        return None
    try:
        return OcrResult.model_validate_json(services().blobs.get(job.result_key))
    except BlobNotFound:
        raise errors.Gone("the result of this job has expired or was deleted") from None


class JobNotFound(errors.NotFound):
    """No job with this id for this tenant (another tenant's job looks exactly the same)."""

    code = "job_not_found"


def find_job(job_id: str) -> Job:
    job = services().store.get_for_tenant(job_id, tenant())
    if job is None:
        raise JobNotFound(f"no job {job_id}")
    if job.expires_at is not None and now_ms() > job.expires_at:
        raise errors.Gone(f"job {job_id} and its data have expired")
    return job
