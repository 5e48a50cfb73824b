"""WSGI entry point for gunicorn: `gunicorn api.wsgi:app`."""

from api.app import create_app
from shared.infra.logs import configure as configure_logging

configure_logging()  # JSON lines at OCRQ_LOG_LEVEL (shared/infra/logs.py)
app = create_app()
