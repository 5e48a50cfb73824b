from typing import Literal

JobUploadPriority = Literal['bulk', 'interactive']

JOB_UPLOAD_PRIORITY_VALUES: set[JobUploadPriority] = { 'bulk', 'interactive',  }

def check_job_upload_priority(value: str) -> JobUploadPriority:
    if value in JOB_UPLOAD_PRIORITY_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {JOB_UPLOAD_PRIORITY_VALUES!r}")
