from typing import Literal

GetJobResultFormat = Literal['hocr', 'json', 'markdown', 'pdf', 'text']

GET_JOB_RESULT_FORMAT_VALUES: set[GetJobResultFormat] = { 'hocr', 'json', 'markdown', 'pdf', 'text',  }

def check_get_job_result_format(value: str) -> GetJobResultFormat:
    if value in GET_JOB_RESULT_FORMAT_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {GET_JOB_RESULT_FORMAT_VALUES!r}")
