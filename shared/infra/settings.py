"""All configuration in one place: environment variables with the prefix ``OCRQ_``.

A wrong or missing setting must stop a process at start with one line naming the variable,
so ``load_settings`` turns pydantic's multi-line report into exactly that.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlparse

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.engines import ENGINES, UnknownEngine, get_engine
from shared.infra.redis_client import is_sentinel_url, parse_sentinel_url

if TYPE_CHECKING:
    from shared.intake.quality import Thresholds

ENV_PREFIX = "OCRQ_"


class SettingsError(Exception):
    """A configuration problem, already phrased as one line for an operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # Connections
    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = ""  # empty: use redis_url
    storage_url: str = "file://./var/blobs"  # s3://bucket or file:///path
    bucket: str = "ocrq"  # default bucket of a file:// store (s3:// names its own)
    s3_endpoint: str = "127.0.0.1:9000"  # host:port of MinIO / S3
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    # Every storage call is bounded: a store that hangs or refuses costs a caller seconds, not minutes
    # (the minio client's own defaults are 300 s timeouts and 5 retries), and while it stays sick a
    # circuit breaker answers at once (shared/infra/s3_store.py). s3_max_in_flight caps the storage calls one
    # process runs at a time (0: no cap) so a hung store can never hold every gateway thread.
    s3_connect_timeout_s: float = Field(default=2.0, gt=0, le=120)
    s3_read_timeout_s: float = Field(default=3.0, gt=0, le=600)
    s3_retries: int = Field(default=1, ge=0, le=10)
    s3_max_in_flight: int = Field(default=12, ge=0, le=1024)

    # Engine
    engine: str = "rapidocr"  # a name declared in shared/engines.py
    model_path: str = ""
    attn_implementation: str = "sdpa"
    max_new_tokens: int = Field(default=4096, ge=16, le=32768)
    # HunyuanOCR decode slots (continuous batching; see docs/hunyuan.md "Slots and memory"). Each slot
    # holds slot_length tokens of KV cache: 96 KiB a token in bf16, so 8 x 8192 = 6 GiB beside ~2 GiB of
    # weights fits a 24 GB card. Other threaded engines read it as their micro-batch size.
    batch_max: int = Field(default=8, ge=1, le=256)
    slot_length: int = Field(default=8192, ge=512, le=131072)  # KV cache tokens per slot (OCRQ_SLOT_LENGTH)
    decoder: Literal["slots", "generate"] = "slots"  # hunyuan: our decode loop, or eager generate
    batch_wait_ms: int = Field(default=20, ge=0, le=10_000)

    # Backfill batches (shared/batches/, workers/planner.py)
    batch_window: int = Field(default=64, ge=1, le=10_000)  # a batch's items in flight
    batch_tenant_window: int = Field(default=0, ge=0, le=100_000)  # all of a tenant's batches; 0: = batch_window
    batch_planner: bool = True  # false: this webhook worker runs no planner thread (`ocrq planner` does)

    # Input limits
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(default=40_000_000, ge=10_000)
    max_side: int = Field(default=2048, ge=64, le=16384)
    max_frames: int = Field(default=1, ge=1, le=1000)
    allowed_types: str = "jpeg,png,webp,bmp,tiff,heif"
    min_side_px: int = Field(default=8, ge=1, le=1024)  # thinner images are refused at submit (422)
    max_aspect: float = Field(default=50.0, ge=1.0)  # longest / shortest side, refused past this

    # Documents: PDF and multi-page TIFF (shared/intake/documents.py). Pages render in workers, at pdf_dpi
    # and then within max_side/max_pixels like images; a page past its render time limit fails alone.
    pdf_dpi: int = Field(default=200, ge=36, le=1200)
    max_pages: int = Field(default=500, ge=1, le=100_000)  # more is refused at submit (413), before storing
    page_render_time_limit_s: float = Field(default=60.0, gt=0, le=3600)

    # Jobs and the queue
    max_attempts: int = Field(default=3, ge=1, le=20)
    job_time_limit_s: int = Field(default=300, ge=5)
    lease_s: int = Field(default=30, ge=2)  # a running job's heartbeat lease
    visibility_timeout_s: int = Field(default=3600, ge=10)
    retention_s: int = Field(default=7 * 24 * 3600, ge=60)
    interactive_queue_max: int = Field(default=1000, ge=1)
    reaper_interval_s: float = Field(default=5.0, gt=0)
    # A queued job whose message went out this long ago is sent again (a message lost with a Redis
    # restart, or held in an unacked set): duplicates are harmless, the runner's claim is a CAS.
    queued_resend_s: int = Field(default=900, ge=10)
    # A job that cannot reach storage is given back without spending an attempt and retried with a
    # backoff; it fails (storage_unavailable) only once it has waited for storage this long.
    storage_outage_deadline_s: int = Field(default=600, ge=1)
    # Recycling a prefork pool child (the CPU worker's one child), between jobs: Celery's
    # worker_max_tasks_per_child and worker_max_memory_per_child. 0: never. The memory check runs
    # after each job on the child's resident memory; over the limit, the child exits once its job
    # is acknowledged and a fresh one (which loads the engine again) takes the next. Threads-pool
    # workers (HunyuanOCR, webhooks) have no children: these do not apply there (docs/deploy.md).
    worker_max_tasks_per_child: int = Field(default=0, ge=0)
    worker_max_memory_mb: int = Field(default=2048, ge=0)

    # Gateway
    rate_per_s: float = Field(default=50.0, gt=0)  # token bucket refill per API key
    rate_burst: int = Field(default=100, ge=1)
    wait_max_s: int = Field(default=30, ge=0, le=300)
    public_url: str = ""  # base URL for links in webhooks; empty: request host

    # Webhooks
    webhook_allow_http: bool = False  # development only
    webhook_allow_private: str = ""  # comma-separated CIDRs an operator trusts
    webhook_dns: Literal["system", "hosts"] = "system"  # hosts: /etc/hosts only, no DNS query (offline boxes)
    webhook_timeout_s: float = Field(default=15.0, gt=0)
    webhook_schedule_s: str = "5,300,1800,7200,18000,36000,36000,36000,36000,36000,36000,36000"
    webhook_inline_max_bytes: int = Field(default=256 * 1024, ge=0)

    log_level: str = "INFO"
    metrics_port: int = Field(default=9100, ge=1, le=65535)  # a worker's /metrics and /healthz

    # Log lines (shared/infra/logs.py): json, one object a line, for containers and log shippers;
    # console, short human-readable lines for a terminal (`ocrq dev` sets it).
    log_format: Literal["json", "console"] = "json"

    # Redis replication (shared/infra/redis_client.py): a submit answers 202 only once this many replicas
    # confirm the job record (Redis WAIT), else 503 after the timeout; 0: do not wait.
    redis_min_replicas: int = Field(default=0, ge=0, le=16)
    redis_wait_timeout_ms: int = Field(default=500, ge=1, le=60_000)

    # The rescan verdict at submit (quality=check|require; shared/intake/quality.py measures,
    # defaults tuned on the receipts).
    quality_min_side: int = Field(default=300, ge=1)  # original px on the long side below which: too_small
    quality_min_sharpness: float = Field(default=0.65, ge=0, le=2)  # p99 stretched gradient; sharp scans ~1
    quality_dark_paper: float = Field(default=0.30, ge=0, le=1)  # p95 luminance under this: too_dark
    quality_bright_ink: float = Field(default=0.66, ge=0, le=1)  # p0.5 luminance over this: overexposed
    quality_max_glare: float = Field(default=0.03, ge=0, le=1)  # share in clipped patches on the paper: glare

    def quality_thresholds(self) -> Thresholds:
        from shared.intake.quality import Thresholds  # numpy: only where a verdict is asked for

        return Thresholds(min_side=self.quality_min_side, min_sharpness=self.quality_min_sharpness,
                          dark_paper=self.quality_dark_paper, bright_ink=self.quality_bright_ink,
                          max_glare=self.quality_max_glare)

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        if v not in ENGINES:
            raise UnknownEngine(v)
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: str) -> str:
        if is_sentinel_url(v):
            parse_sentinel_url(v)  # RedisURLError (a ValueError) names what is wrong, in one line
        elif urlparse(v).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss://, unix:// or redis+sentinel:// URL")
        return v

    @field_validator("storage_url")
    @classmethod
    def _storage_scheme(cls, v: str) -> str:
        u = urlparse(v)
        if u.scheme == "s3":
            if not u.netloc:
                raise ValueError("s3:// URL must name a bucket, e.g. s3://ocrq")
        elif u.scheme != "file":
            raise ValueError("must be s3://BUCKET or file:///PATH")
        return v

    @model_validator(mode="after")
    def _engine_needs_model(self) -> Settings:
        if get_engine(self.engine).needs_model and not self.model_path:
            raise ValueError(f"{ENV_PREFIX}MODEL_PATH is required when {ENV_PREFIX}ENGINE={self.engine}")
        if self.visibility_timeout_s <= self.job_time_limit_s:
            # A message must never become visible again while its job may still run.
            raise ValueError(
                f"{ENV_PREFIX}VISIBILITY_TIMEOUT_S must exceed {ENV_PREFIX}JOB_TIME_LIMIT_S"
            )
        return self

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def allowed_formats(self) -> tuple[str, ...]:
        return tuple(t.strip().upper() for t in self.allowed_types.split(",") if t.strip())

    @property
    def tenant_batch_window(self) -> int:
        """Items in flight for all of one tenant's batches together: tenants share the bulk lane by
        this cap (a tenant starting ten batches does not get ten times the fleet)."""
        return self.batch_tenant_window or self.batch_window

    @property
    def webhook_schedule(self) -> list[float]:
        return [float(x) for x in self.webhook_schedule_s.split(",") if x.strip()]


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "__root__"]
    msg = first.get("msg", "invalid").removeprefix("Value error, ")
    if loc:
        return f"{ENV_PREFIX}{loc[0].upper()}: {msg}"
    return msg


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise SettingsError with one line on any problem."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # test overrides by field name; pydantic checks them
    except ValidationError as err:
        raise SettingsError(_one_line(err)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
