from typing import Literal

JobUploadReview = Literal['always', 'auto', 'off']

JOB_UPLOAD_REVIEW_VALUES: set[JobUploadReview] = { 'always', 'auto', 'off',  }

def check_job_upload_review(value: str) -> JobUploadReview:
    if value in JOB_UPLOAD_REVIEW_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {JOB_UPLOAD_REVIEW_VALUES!r}")
