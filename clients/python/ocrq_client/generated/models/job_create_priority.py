from typing import Literal

JobCreatePriority = Literal['bulk', 'interactive']

JOB_CREATE_PRIORITY_VALUES: set[JobCreatePriority] = { 'bulk', 'interactive',  }

def check_job_create_priority(value: str) -> JobCreatePriority:
    if value in JOB_CREATE_PRIORITY_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {JOB_CREATE_PRIORITY_VALUES!r}")
