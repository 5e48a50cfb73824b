"""How a review block is shown: the API's ``review`` object (times as ISO 8601, an expired claim as open)."""

from __future__ import annotations

from typing import Any

from shared.api_schemas.reviews import ReviewOut
from shared.jobs.model import iso_ms, now_ms
from shared.reviews.model import shown

_TIMES = ("opened_at", "claimed_at", "lease_until", "resolved_at")


def review_out(block: dict[str, Any] | None) -> ReviewOut | None:
    view = shown(block, now_ms())
    if view is None:
        return None
    data = {k: v for k, v in view.items() if k in ReviewOut.model_fields}
    for k in _TIMES:
        data[k] = iso_ms(view.get(k))
    return ReviewOut.model_validate(data)
