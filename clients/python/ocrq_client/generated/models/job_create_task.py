from typing import Literal

JobCreateTask = Literal['ask', 'barcodes', 'chart', 'fields', 'formula', 'layout', 'layout_parse', 'parse', 'spotting', 'spotting_json', 'table', 'text', 'translate']

JOB_CREATE_TASK_VALUES: set[JobCreateTask] = { 'ask', 'barcodes', 'chart', 'fields', 'formula', 'layout', 'layout_parse', 'parse', 'spotting', 'spotting_json', 'table', 'text', 'translate',  }

def check_job_create_task(value: str) -> JobCreateTask:
    if value in JOB_CREATE_TASK_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {JOB_CREATE_TASK_VALUES!r}")
