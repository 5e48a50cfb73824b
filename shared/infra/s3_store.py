"""The S3/MinIO blob store: every call bounded (timeouts, retries, a cap on calls in flight) and
behind a circuit breaker, so a store that hangs or refuses costs callers seconds, then microseconds."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shared.infra.blobs import BlobInfo, BlobNotFound, BlobStoreError, ObjectTooLarge, check_bucket, check_key

SLOT_WAIT_S = 0.25  # how long a storage call waits for one of the in-flight slots ...
SLOW_CALL_S = 0.5  # ... unless a call in flight has taken longer than this (the store is hanging)


class CircuitBreaker:
    """Fail fast while the store is sick, so callers get a 503 in microseconds, not after timeouts.

    closed: calls go through; ``threshold`` consecutive unreachable-store failures open it.
    open: every call fails at once for ``cooldown_s``.
    half-open: one call (the probe) goes through, the others still fail fast; the probe's
    success closes the breaker, its failure opens it for another cool-down. A probe not heard of
    within ``probe_timeout_s`` (longer than any bounded call) is taken as lost and another may go.
    Only failures to reach the store count: an answer such as NoSuchKey is the store working.
    """

    def __init__(self, threshold: int = 3, cooldown_s: float = 5.0, probe_timeout_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.probe_timeout_s = probe_timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until: float | None = None  # None: closed
        self._probe_since: float | None = None

    @property
    def state(self) -> str:
        with self._lock:
            if self._open_until is None:
                return "closed"
            return "half-open" if self._clock() >= self._open_until else "open"

    def before(self, what: str) -> bool:
        """Raise BlobStoreError when the call must not go out; True when this call is the probe."""
        with self._lock:
            if self._open_until is None:
                return False
            now = self._clock()
            left = self._open_until - now
            probing = self._probe_since is not None and now - self._probe_since < self.probe_timeout_s
            if left > 0 or probing:
                raise BlobStoreError(f"{what}: storage unavailable (circuit open after {self.threshold} "
                                     f"failures; next probe in {max(0.0, left):.1f} s)")
            self._probe_since = now
            return True

    def succeeded(self, probe: bool) -> None:
        with self._lock:
            self._failures = 0
            if probe:
                self._open_until, self._probe_since = None, None

    def failed(self, probe: bool) -> None:
        with self._lock:
            self._failures += 1
            if probe or self._failures >= self.threshold:
                self._open_until = self._clock() + self.cooldown_s
            if probe:
                self._probe_since = None

    def abandoned(self, probe: bool) -> None:
        """The call ended without telling anything about the store (rejected before it went out)."""
        if probe:
            with self._lock:
                self._probe_since = None


def _unreachable(err: BaseException) -> bool:
    """True for errors that say the store did not answer (connection, timeout, 5xx after retries)."""
    import urllib3
    from minio.error import ServerError

    return isinstance(err, urllib3.exceptions.HTTPError | OSError | ServerError)


class S3BlobStore:
    """MinIO (or any S3 server) through the `minio` client, every call bounded (timeouts, retries,
    a cap on calls in flight) and behind a circuit breaker."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool,
        region: str,
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 10.0,
        retries: int = 1,
        max_in_flight: int = 12,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        import certifi
        import urllib3
        from minio import Minio

        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s),
            maxsize=max(10, max_in_flight),
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(total=retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        )
        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region,
                            http_client=http)
        self.bucket = check_bucket(bucket)
        self.breaker = breaker or CircuitBreaker()
        self.max_in_flight = max_in_flight
        self._slots = threading.BoundedSemaphore(max_in_flight) if max_in_flight else None
        self._calls: dict[int, float] = {}  # calls in flight: their start (monotonic)
        self._calls_lock = threading.Lock()

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        probe = self.breaker.before(what)
        # Under healthy load calls take milliseconds and a slot frees at once, so waiting briefly is
        # right; but when the oldest call in flight is already slow the store is likely hanging, and
        # a waiter would hold its thread just as a hung call does: then there is no wait at all.
        wait = SLOT_WAIT_S if self._oldest_call_s() < SLOW_CALL_S else 0.0
        if self._slots is not None and not self._slots.acquire(timeout=wait):
            self.breaker.abandoned(probe)
            raise BlobStoreError(f"{what}: storage busy ({self.max_in_flight} calls in flight)")
        token = object()
        with self._calls_lock:
            self._calls[id(token)] = time.monotonic()
        try:
            yield
        except BaseException as err:
            if _unreachable(err) or (isinstance(err, BlobStoreError) and _unreachable(err.__cause__ or err)):
                self.breaker.failed(probe)
            elif isinstance(err, Exception):
                self.breaker.succeeded(probe)  # the store answered (a 404, an auth error): it is up
            else:
                self.breaker.abandoned(probe)
            raise
        else:
            self.breaker.succeeded(probe)
        finally:
            with self._calls_lock:
                self._calls.pop(id(token), None)
            if self._slots is not None:
                self._slots.release()

    def _oldest_call_s(self) -> float:
        with self._calls_lock:
            return time.monotonic() - min(self._calls.values()) if self._calls else 0.0

    def ensure_bucket(self) -> None:
        with self._guard("ensure bucket"):
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)

    def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream", *, bucket: str | None = None
    ) -> None:
        check_key(key)
        try:
            with self._guard(f"put {key}"):
                self.client.put_object(bucket or self.bucket, key, io.BytesIO(data), len(data),
                                       content_type=content_type)
        except BlobStoreError:
            raise
        except Exception as err:  # network, auth, server errors: all mean "try again later"
            raise BlobStoreError(f"put {key}: {err}") from err

    def get(self, key: str, *, bucket: str | None = None, max_bytes: int | None = None) -> bytes:
        from minio.error import S3Error

        check_key(key)
        resp = None
        try:
            with self._guard(f"get {key}"):
                resp = self.client.get_object(bucket or self.bucket, key)
                length = int(resp.headers.get("content-length") or 0)
                if max_bytes is not None and length > max_bytes:
                    raise ObjectTooLarge(f"{key} is {length} bytes, over the limit of {max_bytes}")
                return resp.read()
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
                raise BlobNotFound(key) from None
            raise BlobStoreError(f"get {key}: {err.code}") from err
        except (ObjectTooLarge, BlobNotFound, BlobStoreError):
            raise
        except Exception as err:
            raise BlobStoreError(f"get {key}: {err}") from err
        finally:
            if resp is not None:
                resp.close()
                resp.release_conn()

    def stat(self, key: str, *, bucket: str | None = None) -> BlobInfo | None:
        from minio.error import S3Error

        check_key(key)
        try:
            with self._guard(f"stat {key}"):
                st = self.client.stat_object(bucket or self.bucket, key)
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject", "NotFound"):
                return None
            raise BlobStoreError(f"stat {key}: {err.code}") from err
        except BlobStoreError:
            raise
        except Exception as err:
            raise BlobStoreError(f"stat {key}: {err}") from err
        return BlobInfo(key, int(st.size or 0))

    def delete(self, key: str, *, bucket: str | None = None) -> None:
        check_key(key)
        try:
            with self._guard(f"delete {key}"):
                self.client.remove_object(bucket or self.bucket, key)
        except BlobStoreError:
            raise
        except Exception as err:
            raise BlobStoreError(f"delete {key}: {err}") from err

    def list(self, prefix: str, *, bucket: str | None = None, start_after: str = "") -> Iterator[BlobInfo]:
        # The client pages through ListObjectsV2 lazily: a prefix of millions is never held in memory.
        # Each page is its own bounded request; the breaker is asked before the first and told how
        # the listing ended (no in-flight slot: a listing may be consumed slowly).
        probe = self.breaker.before(f"list {prefix}")
        try:
            for obj in self.client.list_objects(
                bucket or self.bucket, prefix=prefix, recursive=True, start_after=start_after or None
            ):
                if not obj.is_dir:
                    yield BlobInfo(obj.object_name, int(obj.size or 0))
        except Exception as err:
            if not _unreachable(err):
                self.breaker.succeeded(probe)
                raise
            self.breaker.failed(probe)
            raise BlobStoreError(f"list {prefix}: {err}") from err
        except BaseException:  # GeneratorExit: the caller stopped early; nothing learned
            self.breaker.abandoned(probe)
            raise
        self.breaker.succeeded(probe)

    def ping(self) -> None:
        try:
            with self._guard("ping"):
                if not self.client.bucket_exists(self.bucket):
                    raise BlobStoreError(f"bucket {self.bucket} does not exist")
        except BlobStoreError:
            raise
        except Exception as err:
            raise BlobStoreError(f"storage unreachable: {err}") from err
