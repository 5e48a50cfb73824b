"""Celery app, tasks, job runner, webhooks, backfill."""
