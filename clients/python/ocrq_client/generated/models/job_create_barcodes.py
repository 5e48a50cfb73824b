from typing import Literal

JobCreateBarcodes = Literal['auto', 'off', 'on']

JOB_CREATE_BARCODES_VALUES: set[JobCreateBarcodes] = { 'auto', 'off', 'on',  }

def check_job_create_barcodes(value: str) -> JobCreateBarcodes:
    if value in JOB_CREATE_BARCODES_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {JOB_CREATE_BARCODES_VALUES!r}")
