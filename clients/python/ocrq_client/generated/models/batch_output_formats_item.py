from typing import Literal

BatchOutputFormatsItem = Literal['hocr', 'json', 'markdown', 'pdf', 'text']

BATCH_OUTPUT_FORMATS_ITEM_VALUES: set[BatchOutputFormatsItem] = { 'hocr', 'json', 'markdown', 'pdf', 'text',  }

def check_batch_output_formats_item(value: str) -> BatchOutputFormatsItem:
    if value in BATCH_OUTPUT_FORMATS_ITEM_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {BATCH_OUTPUT_FORMATS_ITEM_VALUES!r}")
