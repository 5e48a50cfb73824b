from typing import Literal

EndpointOutEventsItem = Literal['batch.completed', 'batch.item.failed', 'batch.item.succeeded', 'job.canceled', 'job.failed', 'job.reviewed', 'job.succeeded']

ENDPOINT_OUT_EVENTS_ITEM_VALUES: set[EndpointOutEventsItem] = { 'batch.completed', 'batch.item.failed', 'batch.item.succeeded', 'job.canceled', 'job.failed', 'job.reviewed', 'job.succeeded',  }

def check_endpoint_out_events_item(value: str) -> EndpointOutEventsItem:
    if value in ENDPOINT_OUT_EVENTS_ITEM_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {ENDPOINT_OUT_EVENTS_ITEM_VALUES!r}")
