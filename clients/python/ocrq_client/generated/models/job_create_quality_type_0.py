from typing import Literal

JobCreateQualityType0 = Literal['check', 'require']

JOB_CREATE_QUALITY_TYPE_0_VALUES: set[JobCreateQualityType0] = { 'check', 'require',  }

def check_job_create_quality_type_0(value: str) -> JobCreateQualityType0:
    if value in JOB_CREATE_QUALITY_TYPE_0_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {JOB_CREATE_QUALITY_TYPE_0_VALUES!r}")
