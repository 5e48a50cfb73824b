from typing import Literal

ListJobsTask = Literal['ask', 'barcodes', 'chart', 'fields', 'formula', 'layout', 'layout_parse', 'parse', 'spotting', 'spotting_json', 'table', 'text', 'translate']

LIST_JOBS_TASK_VALUES: set[ListJobsTask] = { 'ask', 'barcodes', 'chart', 'fields', 'formula', 'layout', 'layout_parse', 'parse', 'spotting', 'spotting_json', 'table', 'text', 'translate',  }

def check_list_jobs_task(value: str) -> ListJobsTask:
    if value in LIST_JOBS_TASK_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {LIST_JOBS_TASK_VALUES!r}")
