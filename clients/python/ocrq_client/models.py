"""The generated models (``ocrq_client.generated.models``) under a shorter name:
``from ocrq_client.models import JobOut``."""

from ocrq_client.generated.models import *  # noqa: F403
from ocrq_client.generated.models import __all__  # noqa: F401
