"""ocrq_client: the Python client of the ocrq OCR job service.

    from ocrq_client import Client
    with Client("http://127.0.0.1:8080", "ocrq_...") as client:
        job = client.wait(client.submit("scan.jpg", task="text").id, timeout=120)
        print(job.result.text)

``Client`` and ``verify_webhook`` are written by hand; the models (``ocrq_client.models``) and one
function per operation (``ocrq_client.generated.api``) are generated from the gateway's
/openapi.json by openapi-python-client (scripts/generate_client.py in the ocrq repository).
"""

from ocrq_client._client import AUTO, Client, __version__, parse_bucket_url
from ocrq_client.errors import (
    ApiError,
    BatchTimeout,
    JobTimeout,
    OcrqError,
    TransportError,
    WebhookVerificationError,
)
from ocrq_client.webhooks import verify_webhook

__all__ = [
    "AUTO",
    "ApiError",
    "BatchTimeout",
    "Client",
    "JobTimeout",
    "OcrqError",
    "TransportError",
    "WebhookVerificationError",
    "__version__",
    "parse_bucket_url",
    "verify_webhook",
]
