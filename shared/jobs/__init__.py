"""Jobs: the model and its state machine (model), the Redis store with its Lua compare-and-set
(store), how a job is shown to clients and events (views), and what the gateway does with one:
submit with idempotency and backpressure (submit), cancel and purge (lifecycle).

The model's names are re-exported here because nearly every module needs them.
"""

from shared.jobs.model import (
    TERMINAL,
    InputRef,
    Job,
    JobError,
    Status,
    iso_ms,
    new_job_id,
    now_ms,
)

__all__ = ["TERMINAL", "InputRef", "Job", "JobError", "Status", "iso_ms", "new_job_id", "now_ms"]
