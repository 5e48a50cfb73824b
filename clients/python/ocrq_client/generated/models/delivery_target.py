from typing import Literal

DeliveryTarget = Literal['endpoint', 'job_webhook_url']

DELIVERY_TARGET_VALUES: set[DeliveryTarget] = { 'endpoint', 'job_webhook_url',  }

def check_delivery_target(value: str) -> DeliveryTarget:
    if value in DELIVERY_TARGET_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {DELIVERY_TARGET_VALUES!r}")
