"""Outgoing webhook delivery: one HTTP attempt (sender), the scheduler and task bodies (dispatch),
and the hooks that put a finished job's event in the outbox (hooks)."""
