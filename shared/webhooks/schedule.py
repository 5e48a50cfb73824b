"""When to try a failed webhook delivery again.

The default follows the shape Svix publishes: quick retries for blips, then hours apart
for outages, giving up after about three days. ``OCRQ_WEBHOOK_SCHEDULE_S`` overrides it
(``Settings.webhook_schedule`` parses it into this module's list form).
"""

from __future__ import annotations

from typing import Protocol

# 5 s, 5 min, 30 min, 2 h, 5 h, then every 10 h; the 3-day window ends it first.
DEFAULT_SCHEDULE_S: list[float] = [5.0, 300.0, 1800.0, 7200.0, 18000.0] + [36000.0] * 7
MAX_TOTAL_S = 3 * 24 * 3600.0
JITTER = 0.2  # +-20 %: spreads retries so one receiver's outage does not end in a thundering herd


class UniformRng(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


def next_delay(
    attempt_no: int,
    schedule: list[float],
    retry_after: float | None,
    rng: UniformRng,
    *,
    elapsed_s: float | None = None,
    max_total_s: float = MAX_TOTAL_S,
    jitter: float = JITTER,
) -> float | None:
    """Seconds to wait before the next attempt, or None when retries are exhausted.

    ``attempt_no`` counts attempts made so far (1 after the first attempt failed), so the
    wait before attempt n+1 is ``schedule[n-1]``, jittered. A receiver's ``Retry-After``
    wins when it asks for longer: retrying sooner would only earn another 429/503.

    ``elapsed_s`` is the time since the first attempt; without it the nominal sum of the
    schedule stands in. No attempt is scheduled past ``max_total_s`` after the first --
    including one a huge Retry-After would push out: that is the receiver asking us to
    stop, and waiting forever would pin the event in the queue.
    """
    if attempt_no < 1:
        raise ValueError("attempt_no counts attempts already made and starts at 1")
    if attempt_no > len(schedule):
        return None
    base = max(0.0, float(schedule[attempt_no - 1]))
    delay = base * (1.0 + rng.uniform(-jitter, jitter))
    if retry_after is not None and retry_after > delay:
        delay = float(retry_after)
    spent = elapsed_s if elapsed_s is not None else sum(max(0.0, float(d)) for d in schedule[: attempt_no - 1])
    if spent + delay > max_total_s:
        return None
    return delay


def total_attempts(schedule: list[float], max_total_s: float = MAX_TOTAL_S) -> int:
    """How many attempts (the first included) the schedule allows without jitter."""
    spent, attempts = 0.0, 1
    for delay in schedule:
        spent += max(0.0, float(delay))
        if spent > max_total_s:
            break
        attempts += 1
    return attempts
