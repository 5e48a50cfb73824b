from typing import Literal

JobUploadBarcodes = Literal['auto', 'off', 'on']

JOB_UPLOAD_BARCODES_VALUES: set[JobUploadBarcodes] = { 'auto', 'off', 'on',  }

def check_job_upload_barcodes(value: str) -> JobUploadBarcodes:
    if value in JOB_UPLOAD_BARCODES_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {JOB_UPLOAD_BARCODES_VALUES!r}")
