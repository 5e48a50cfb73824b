"""Opening the blob store the settings name (OCRQ_STORAGE_URL): s3://bucket or file://path.

Its own module because it is the one place that knows both stores: the S3 store imports the
interface and errors from shared/infra/blobs.py, so the choice between them cannot live there
without an import cycle.
"""

from __future__ import annotations

from urllib.parse import urlparse

from shared.infra.blobs import BlobStore, LocalBlobStore
from shared.infra.s3_store import S3BlobStore
from shared.infra.settings import Settings


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
            connect_timeout_s=settings.s3_connect_timeout_s,
            read_timeout_s=settings.s3_read_timeout_s,
            retries=settings.s3_retries,
            max_in_flight=settings.s3_max_in_flight,
        )
    # file:///abs/path or file://./relative/path
    path = (url.netloc + url.path) if url.netloc else url.path
    return LocalBlobStore(path, settings.bucket)
