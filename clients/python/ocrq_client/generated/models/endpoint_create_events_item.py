from typing import Literal

EndpointCreateEventsItem = Literal['batch.completed', 'batch.item.failed', 'batch.item.succeeded', 'job.canceled', 'job.failed', 'job.reviewed', 'job.succeeded']

ENDPOINT_CREATE_EVENTS_ITEM_VALUES: set[EndpointCreateEventsItem] = { 'batch.completed', 'batch.item.failed', 'batch.item.succeeded', 'job.canceled', 'job.failed', 'job.reviewed', 'job.succeeded',  }

def check_endpoint_create_events_item(value: str) -> EndpointCreateEventsItem:
    if value in ENDPOINT_CREATE_EVENTS_ITEM_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {ENDPOINT_CREATE_EVENTS_ITEM_VALUES!r}")
