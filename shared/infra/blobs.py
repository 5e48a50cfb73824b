"""Durable bytes (inputs, results, ledgers): the interface every store keeps, its errors, the keys
ocrq writes under, and the local-folder store.

Stores address objects by (bucket, key). The default bucket holds what ocrq writes; other buckets are
read for jobs and batches that point at objects already in storage. The S3/MinIO store is
shared/infra/s3_store.py; shared/infra/storage.py opens the one the settings name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.errors import TooLarge


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


class ObjectTooLarge(TooLarge):
    """An object in the store is larger than the limit its reader set."""


def check_key(key: str) -> str:
    # Keys come from tenants (references, manifests): never let one escape its bucket folder.
    if not key or key.startswith("/") or "\\" in key or any(p in ("..", ".") for p in key.split("/")):
        raise ValueError(f"invalid object key: {key!r}")
    return key


def check_bucket(bucket: str) -> str:
    if not bucket or "/" in bucket or bucket.startswith(".") or "\\" in bucket:
        raise ValueError(f"invalid bucket name: {bucket!r}")
    return bucket


class LocalBlobStore:
    """Buckets are folders under one root; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | Path, bucket: str) -> None:
        self.root = Path(root).resolve()
        self.bucket = check_bucket(bucket)
        (self.root / self.bucket).mkdir(parents=True, exist_ok=True)

    def _path(self, key: str, bucket: str | None) -> Path:
        return self.root / check_bucket(bucket or self.bucket) / check_key(key)

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
                raise ObjectTooLarge(f"{key} is {size} bytes, over the limit of {max_bytes}")
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
        base = self.root / check_bucket(bucket or self.bucket)
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


def input_key(tenant: str, sha256: str) -> str:
    return f"inputs/{tenant}/{sha256}"


def result_key(tenant: str, job_id: str) -> str:
    return f"results/{tenant}/{job_id}.json"


def page_result_key(tenant: str, job_id: str, page: int) -> str:
    """One page of a document job, kept until the document's result is assembled."""
    return f"results/{tenant}/{job_id}/pages/{page}.json"
