"""gunicorn's server hooks, read by `ocrq api` (`--config python:api.gunicorn_config`); its flags are in
cli/serve.py. gunicorn takes the module's names that are settings and ignores the rest."""

from api.draining import watch_stop_signal

post_worker_init = watch_stop_signal
