from typing import Literal

JobUploadTask = Literal['ask', 'barcodes', 'chart', 'fields', 'formula', 'layout', 'layout_parse', 'parse', 'spotting', 'spotting_json', 'table', 'text', 'translate']

JOB_UPLOAD_TASK_VALUES: set[JobUploadTask] = { 'ask', 'barcodes', 'chart', 'fields', 'formula', 'layout', 'layout_parse', 'parse', 'spotting', 'spotting_json', 'table', 'text', 'translate',  }

def check_job_upload_task(value: str) -> JobUploadTask:
    if value in JOB_UPLOAD_TASK_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {JOB_UPLOAD_TASK_VALUES!r}")
