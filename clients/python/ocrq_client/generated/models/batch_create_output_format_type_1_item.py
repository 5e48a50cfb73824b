from typing import Literal

BatchCreateOutputFormatType1Item = Literal['hocr', 'json', 'markdown', 'pdf', 'text']

BATCH_CREATE_OUTPUT_FORMAT_TYPE_1_ITEM_VALUES: set[BatchCreateOutputFormatType1Item] = { 'hocr', 'json', 'markdown', 'pdf', 'text',  }

def check_batch_create_output_format_type_1_item(value: str) -> BatchCreateOutputFormatType1Item:
    if value in BATCH_CREATE_OUTPUT_FORMAT_TYPE_1_ITEM_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {BATCH_CREATE_OUTPUT_FORMAT_TYPE_1_ITEM_VALUES!r}")
