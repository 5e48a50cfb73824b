from typing import Literal

DryRunOutputFormatsItem = Literal['hocr', 'json', 'markdown', 'pdf', 'text']

DRY_RUN_OUTPUT_FORMATS_ITEM_VALUES: set[DryRunOutputFormatsItem] = { 'hocr', 'json', 'markdown', 'pdf', 'text',  }

def check_dry_run_output_formats_item(value: str) -> DryRunOutputFormatsItem:
    if value in DRY_RUN_OUTPUT_FORMATS_ITEM_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {DRY_RUN_OUTPUT_FORMATS_ITEM_VALUES!r}")
