"""Outgoing webhooks: signing, SSRF guard, one HTTP delivery, and the retry schedule.

Pure modules with no Celery or Redis, so the task layer and tests can reuse them.
"""
