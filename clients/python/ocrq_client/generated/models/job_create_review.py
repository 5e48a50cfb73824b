from typing import Literal

JobCreateReview = Literal['always', 'auto', 'off']

JOB_CREATE_REVIEW_VALUES: set[JobCreateReview] = { 'always', 'auto', 'off',  }

def check_job_create_review(value: str) -> JobCreateReview:
    if value in JOB_CREATE_REVIEW_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {JOB_CREATE_REVIEW_VALUES!r}")
