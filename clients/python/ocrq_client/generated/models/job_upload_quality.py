from typing import Literal

JobUploadQuality = Literal['check', 'require']

JOB_UPLOAD_QUALITY_VALUES: set[JobUploadQuality] = { 'check', 'require',  }

def check_job_upload_quality(value: str) -> JobUploadQuality:
    if value in JOB_UPLOAD_QUALITY_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {JOB_UPLOAD_QUALITY_VALUES!r}")
