from typing import Literal

ReplayWebhookIncludeDelivered = Literal['0', '1', 'false', 'no', 'true', 'yes']

REPLAY_WEBHOOK_INCLUDE_DELIVERED_VALUES: set[ReplayWebhookIncludeDelivered] = { '0', '1', 'false', 'no', 'true', 'yes',  }

def check_replay_webhook_include_delivered(value: str) -> ReplayWebhookIncludeDelivered:
    if value in REPLAY_WEBHOOK_INCLUDE_DELIVERED_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {REPLAY_WEBHOOK_INCLUDE_DELIVERED_VALUES!r}")
