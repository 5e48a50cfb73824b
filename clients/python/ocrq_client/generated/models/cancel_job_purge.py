from typing import Literal

CancelJobPurge = Literal['0', '1', 'false', 'no', 'true', 'yes']

CANCEL_JOB_PURGE_VALUES: set[CancelJobPurge] = { '0', '1', 'false', 'no', 'true', 'yes',  }

def check_cancel_job_purge(value: str) -> CancelJobPurge:
    if value in CANCEL_JOB_PURGE_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {CANCEL_JOB_PURGE_VALUES!r}")
