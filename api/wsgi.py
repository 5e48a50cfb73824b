"""WSGI entry point for gunicorn: `gunicorn api.wsgi:app`."""

from shared.infra import tracing

tracing.keep_out_unless_configured()  # before redis is imported (shared/infra/tracing.py says why)

from api.app import create_app  # noqa: E402
from shared.infra.logs import configure as configure_logging  # noqa: E402

configure_logging()  # JSON lines at OCRQ_LOG_LEVEL (shared/infra/logs.py)
app = create_app()
