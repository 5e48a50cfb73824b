"""Durable bytes (inputs, results, ledgers): one interface, an S3/MinIO store and a local-folder store.

Both address objects by (bucket, key). The default bucket holds what ocrq writes; other buckets are
read for jobs and batches that point at objects already in storage.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from shared.settings import Settings


class BlobNotFound(Exception):
    pass


class BlobStoreError(Exception):
    """Storage unreachable or refusing; the caller should answer 503 or retry."""


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int


class BlobStore(Protocol):
    bucket: str  # the default bucket

    def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream", *, bucket: str | None = None
    ) -> None: ...
    def get(self, key: str, *, bucket: str | None = None, max_bytes: int | None = None) -> bytes: ...
    def stat(self, key: str, *, bucket: str | None = None) -> BlobInfo | None: ...
    def delete(self, key: str, *, bucket: str | None = None) -> None: ...
    def list(self, prefix: str, *, bucket: str | None = None, start_after: str = "") -> Iterator[BlobInfo]: ...
    def ping(self) -> None: ...


class TooLarge(Exception):
    pass


def _check_key(key: str) -> str:
    # Keys come from tenants (references, manifests): never let one escape its bucket folder.
    if not key or key.startswith("/") or "\\" in key or any(p in ("..", ".") for p in key.split("/")):
        raise ValueError(f"invalid object key: {key!r}")
    return key


def _check_bucket(bucket: str) -> str:
    if not bucket or "/" in bucket or bucket.startswith(".") or "\\" in bucket:
        raise ValueError(f"invalid bucket name: {bucket!r}")
    return bucket


class LocalBlobStore:
    """Buckets are folders under one root; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | Path, bucket: str) -> None:
        self.root = Path(root).resolve()
        self.bucket = _check_bucket(bucket)
        (self.root / self.bucket).mkdir(parents=True, exist_ok=True)

    def _path(self, key: str, bucket: str | None) -> Path:
        return self.root / _check_bucket(bucket or self.bucket) / _check_key(key)

    def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream", *, bucket: str | None = None
    ) -> None:
        path = self._path(key, bucket)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str, *, bucket: str | None = None, max_bytes: int | None = None) -> bytes:
        path = self._path(key, bucket)
        try:
            size = path.stat().st_size
            if max_bytes is not None and size > max_bytes:
                raise TooLarge(f"{key} is {size} bytes, over the limit of {max_bytes}")
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None

    def stat(self, key: str, *, bucket: str | None = None) -> BlobInfo | None:
        path = self._path(key, bucket)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return BlobInfo(key, st.st_size) if path.is_file() else None

    def delete(self, key: str, *, bucket: str | None = None) -> None:
        self._path(key, bucket).unlink(missing_ok=True)

    def list(self, prefix: str, *, bucket: str | None = None, start_after: str = "") -> Iterator[BlobInfo]:
        base = self.root / _check_bucket(bucket or self.bucket)
        if not base.is_dir():
            return
        # Sorted walk so that listing order (and start_after) matches S3's lexicographic order.
        stack = [base]
        keys: list[str] = []
        while stack:
            d = stack.pop()
            for entry in os.scandir(d):
                if entry.name.startswith(".tmp-"):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    rel = Path(entry.path).relative_to(base).as_posix()
                    if rel.startswith(prefix) and rel > start_after:
                        keys.append(rel)
        for k in sorted(keys):
            yield BlobInfo(k, (base / k).stat().st_size)

    def ping(self) -> None:
        if not (self.root / self.bucket).is_dir():
            raise BlobStoreError(f"storage folder {self.root / self.bucket} is missing")


class S3BlobStore:
    """MinIO (or any S3 server) through the `minio` client."""

    def __init__(
        self, endpoint: str, access_key: str, secret_key: str, bucket: str, *, secure: bool, region: str
    ) -> None:
        from minio import Minio

        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region)
        self.bucket = _check_bucket(bucket)

    def ensure_bucket(self) -> None:
        if not self.client.bucket_exists(self.bucket):
            self.client.make_bucket(self.bucket)

    def put(
        self, key: str, data: bytes, content_type: str = "application/octet-stream", *, bucket: str | None = None
    ) -> None:
        _check_key(key)
        try:
            self.client.put_object(bucket or self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)
        except Exception as err:  # network, auth, server errors: all mean "try again later"
            raise BlobStoreError(f"put {key}: {err}") from err

    def get(self, key: str, *, bucket: str | None = None, max_bytes: int | None = None) -> bytes:
        from minio.error import S3Error

        _check_key(key)
        resp = None
        try:
            resp = self.client.get_object(bucket or self.bucket, key)
            length = int(resp.headers.get("content-length") or 0)
            if max_bytes is not None and length > max_bytes:
                raise TooLarge(f"{key} is {length} bytes, over the limit of {max_bytes}")
            return resp.read()
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
                raise BlobNotFound(key) from None
            raise BlobStoreError(f"get {key}: {err.code}") from err
        except (TooLarge, BlobNotFound):
            raise
        except Exception as err:
            raise BlobStoreError(f"get {key}: {err}") from err
        finally:
            if resp is not None:
                resp.close()
                resp.release_conn()

    def stat(self, key: str, *, bucket: str | None = None) -> BlobInfo | None:
        from minio.error import S3Error

        _check_key(key)
        try:
            st = self.client.stat_object(bucket or self.bucket, key)
        except S3Error as err:
            if err.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject", "NotFound"):
                return None
            raise BlobStoreError(f"stat {key}: {err.code}") from err
        except Exception as err:
            raise BlobStoreError(f"stat {key}: {err}") from err
        return BlobInfo(key, int(st.size or 0))

    def delete(self, key: str, *, bucket: str | None = None) -> None:
        _check_key(key)
        try:
            self.client.remove_object(bucket or self.bucket, key)
        except Exception as err:
            raise BlobStoreError(f"delete {key}: {err}") from err

    def list(self, prefix: str, *, bucket: str | None = None, start_after: str = "") -> Iterator[BlobInfo]:
        # The client pages through ListObjectsV2 lazily: a prefix of millions is never held in memory.
        for obj in self.client.list_objects(
            bucket or self.bucket, prefix=prefix, recursive=True, start_after=start_after or None
        ):
            if not obj.is_dir:
                yield BlobInfo(obj.object_name, int(obj.size or 0))

    def ping(self) -> None:
        try:
            if not self.client.bucket_exists(self.bucket):
                raise BlobStoreError(f"bucket {self.bucket} does not exist")
        except BlobStoreError:
            raise
        except Exception as err:
            raise BlobStoreError(f"storage unreachable: {err}") from err


def open_blob_store(settings: Settings) -> BlobStore:
    url = urlparse(settings.storage_url)
    if url.scheme == "s3":
        return S3BlobStore(
            settings.s3_endpoint,
            settings.s3_access_key,
            settings.s3_secret_key,
            url.netloc,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
    # file:///abs/path or file://./relative/path
    path = (url.netloc + url.path) if url.netloc else url.path
    return LocalBlobStore(path, settings.bucket)


def input_key(tenant: str, sha256: str) -> str:
    return f"inputs/{tenant}/{sha256}"


def result_key(tenant: str, job_id: str) -> str:
    return f"results/{tenant}/{job_id}.json"
