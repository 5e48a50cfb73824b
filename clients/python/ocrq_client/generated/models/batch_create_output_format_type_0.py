from typing import Literal

BatchCreateOutputFormatType0 = Literal['hocr', 'json', 'markdown', 'pdf', 'text']

BATCH_CREATE_OUTPUT_FORMAT_TYPE_0_VALUES: set[BatchCreateOutputFormatType0] = { 'hocr', 'json', 'markdown', 'pdf', 'text',  }

def check_batch_create_output_format_type_0(value: str) -> BatchCreateOutputFormatType0:
    if value in BATCH_CREATE_OUTPUT_FORMAT_TYPE_0_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {BATCH_CREATE_OUTPUT_FORMAT_TYPE_0_VALUES!r}")
