"""/v1/webhooks and a job's deliveries: registered endpoints, the default secret, replay, the delivery log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.api_schemas.common import Flag, IsoTimestamp, off
from shared.webhooks.endpoints import DEFAULT_EVENT_TYPES, EVENT_TYPES

ENDPOINT_ID_REGEX = r"ep_[A-Za-z0-9_-]{1,64}"  # also the route converter: /v1/webhooks/default-secret is no id
EndpointId = Annotated[str, Field(pattern=f"^{ENDPOINT_ID_REGEX}$")]
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]  # the event types, from where they are defined
Timestamp = Annotated[str | None, Field(description="ISO 8601, UTC")]


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # maxLength is documented, and a longer URL is refused by the webhook guard (400 unsafe_webhook_url)
    url: str = Field(min_length=1, json_schema_extra={"maxLength": 2048})
    events: list[EventType] = Field(
        default_factory=lambda: list(DEFAULT_EVENT_TYPES), min_length=1,
        description="the event types to send (default: every type but the per-item batch.item.* of backfills)")
    description: str | None = Field(default="", max_length=200)

    @field_validator("events", mode="before")
    @classmethod
    def _event_types(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value or not all(isinstance(e, str) for e in value):
            raise ValueError("a non-empty list of event types")
        bad = [e for e in value if e not in EVENT_TYPES]
        if bad:
            raise ValueError(f"unknown event type {bad[0]!r}; use {', '.join(EVENT_TYPES)}")
        return list(dict.fromkeys(value))


class EndpointOut(BaseModel):
    id: str
    url: str
    events: list[EventType]
    description: str
    created_at: Timestamp
    disabled: bool
    disabled_reason: str | None
    disabled_at: Timestamp
    secret_rotation_ends_at: Timestamp
    secret: str = Field(default="", description="Only in the answers that create or rotate it")


class EndpointList(BaseModel):
    items: list[EndpointOut]


class SecretOut(BaseModel):
    secret: str
    note: str


class ReplayQuery(BaseModel):
    since: IsoTimestamp
    include_delivered: Flag = off()


class ReplayOut(BaseModel):
    endpoint_id: str
    since: Timestamp
    replayed: int


class DeliveryEvent(BaseModel):
    webhook_id: str
    type: str
    sequence: int
    created_at: Timestamp


class Delivery(BaseModel):
    webhook_id: str
    type: str
    endpoint_id: str | None = Field(description="none for the job's own webhook_url")
    target: Literal["job_webhook_url", "endpoint"]
    url: str | None
    status: str | None
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: Timestamp
    delivered_at: Timestamp


class DeliveryLog(BaseModel):
    job_id: str
    events: list[DeliveryEvent]
    deliveries: list[Delivery]
    attempts: list[dict[str, Any]] = Field(description="Every attempt: time, endpoint, status code, latency, error")


class RedeliverOut(BaseModel):
    job_id: str
    redelivered: int
