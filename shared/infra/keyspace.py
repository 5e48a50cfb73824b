"""Every Redis key and channel ocrq uses, declared once under one prefix.

Nothing else builds a key by hand, so the layout below is the whole of it:

  jobs        job:<id> (hash), job:<id>:pages (hash: a document's page work),
              tenant:<t>:jobs (zset by creation), running (zset by lease expiry),
              unsent (zset: created, message not yet confirmed sent), queued (zset by last send),
              expiring (zset by expires_at), inputrefs:<t>:<sha256> (counter), done:<id> (pub/sub channel),
              idem:<t>:<sha256 of the Idempotency-Key> (string: the reservation),
              hooks_pending (zset: finished jobs whose finished-hooks have not all run)
  tenants     apikey:<digest> (string), apikeys (hash id -> digest), tenants (set),
              tenant:<t>:buckets (set: buckets a tenant may read by reference),
              tenant:<t>:review (hash: the tenant's own settings, shared/tenants.py)
  gateway     rate:<key id> (token bucket)
  fleet       stats (hash of counters), reaper:lock (string), engine:<name>:version, engine:bulk
  batches     batch:<id>[:<part>], batches:active (set), tenant:<t>:batches (zset), planner:wake (list)
  reviews     tenant:<t>:reviews (zset: reviewed-or-pending job ids by opened ms),
              tenant:<t>:reviews:pending (zset: open or claimed, by opened ms),
              reviews:stats (hash of counters)
  webhooks    wh:ep:<id>, wh:eps:<t>, wh:secret:<t>, wh:evt:<msg>, wh:events:<t>, wh:subj:<subject>,
              wh:dlv:<msg>:<ep>, wh:dlvs:<msg>, wh:due, wh:log:<subject>, wh:seq:<t>
"""

from __future__ import annotations

PREFIX = "ocrq:"


# ---------------------------------------------------------------- jobs
def job(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}"


def job_done_channel(job_id: str) -> str:
    return f"{PREFIX}done:{job_id}"


def tenant_jobs(tenant: str) -> str:
    return f"{PREFIX}tenant:{tenant}:jobs"


JOBS_RUNNING = f"{PREFIX}running"
JOBS_UNSENT = f"{PREFIX}unsent"
JOBS_QUEUED = f"{PREFIX}queued"  # zset: queued job ids by when their message was last sent
JOBS_EXPIRING = f"{PREFIX}expiring"  # zset: job ids by expires_at (the expiry sweep's work list)
# zset: succeeded/failed job ids whose finished-hooks (event, batch accounting) have not all run, by the
# ms of the transition; written by that transition's own script, removed once the hooks ran (reaper sweeps)
JOBS_HOOKS_PENDING = f"{PREFIX}hooks_pending"


def job_pages(job_id: str) -> str:
    """Hash: a document job's page work, page number -> JSON state (shared/jobs/pages.py)."""
    return f"{PREFIX}job:{job_id}:pages"


def input_refs(tenant: str, sha256: str) -> str:
    """Counter: live jobs using one content-addressed upload (its blob goes with the last)."""
    return f"{PREFIX}inputrefs:{tenant}:{sha256}"


def idempotency(tenant: str, key_digest: str) -> str:
    return f"{PREFIX}idem:{tenant}:{key_digest}"


# ---------------------------------------------------------------- tenants: api keys, buckets, settings
def api_key(digest: str) -> str:
    return f"{PREFIX}apikey:{digest}"


API_KEYS = f"{PREFIX}apikeys"
TENANTS = f"{PREFIX}tenants"


def tenant_buckets(tenant: str) -> str:
    return f"{PREFIX}tenant:{tenant}:buckets"


def tenant_settings(tenant: str) -> str:
    # ":review" because the review floor was its first field; kept so stored settings stay readable
    return f"{PREFIX}tenant:{tenant}:review"


# ---------------------------------------------------------------- gateway and fleet
def rate_bucket(key_id: str) -> str:
    return f"{PREFIX}rate:{key_id}"


STATS = f"{PREFIX}stats"
REAPER_LOCK = f"{PREFIX}reaper:lock"
BULK_ENGINE = f"{PREFIX}engine:bulk"


def engine_version(name: str) -> str:
    return f"{PREFIX}engine:{name}:version"


# ---------------------------------------------------------------- batches
def batch(batch_id: str, part: str = "") -> str:
    return f"{PREFIX}batch:{batch_id}" + (f":{part}" if part else "")


def tenant_batches(tenant: str) -> str:
    return f"{PREFIX}tenant:{tenant}:batches"


BATCHES_ACTIVE = f"{PREFIX}batches:active"
PLANNER_WAKE = f"{PREFIX}planner:wake"

# ---------------------------------------------------------------- reviews (shared/reviews/)
def tenant_reviews(tenant: str) -> str:
    return f"{PREFIX}tenant:{tenant}:reviews"


def tenant_reviews_pending(tenant: str) -> str:
    return f"{PREFIX}tenant:{tenant}:reviews:pending"


REVIEW_STATS = f"{PREFIX}reviews:stats"

# ---------------------------------------------------------------- webhooks
WEBHOOK_PREFIX = f"{PREFIX}wh:"


def webhook_endpoint(ep_id: str) -> str:
    return f"{WEBHOOK_PREFIX}ep:{ep_id}"


def webhook_endpoints(tenant: str) -> str:
    return f"{WEBHOOK_PREFIX}eps:{tenant}"


def webhook_default_secret(tenant: str) -> str:
    return f"{WEBHOOK_PREFIX}secret:{tenant}"


def webhook_event(msg_id: str) -> str:
    return f"{WEBHOOK_PREFIX}evt:{msg_id}"


def webhook_events(tenant: str) -> str:
    return f"{WEBHOOK_PREFIX}events:{tenant}"


def webhook_subject(subject: str) -> str:
    return f"{WEBHOOK_PREFIX}subj:{subject}"


def webhook_delivery(msg_id: str, ep_id: str) -> str:
    return f"{WEBHOOK_PREFIX}dlv:{msg_id}:{ep_id}"


def webhook_deliveries(msg_id: str) -> str:
    return f"{WEBHOOK_PREFIX}dlvs:{msg_id}"


WEBHOOK_DUE = f"{WEBHOOK_PREFIX}due"


def webhook_log(subject: str) -> str:
    return f"{WEBHOOK_PREFIX}log:{subject}"


def webhook_sequence(tenant: str) -> str:
    return f"{WEBHOOK_PREFIX}seq:{tenant}"
