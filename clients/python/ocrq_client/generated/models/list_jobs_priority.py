from typing import Literal

ListJobsPriority = Literal['bulk', 'interactive']

LIST_JOBS_PRIORITY_VALUES: set[ListJobsPriority] = { 'bulk', 'interactive',  }

def check_list_jobs_priority(value: str) -> ListJobsPriority:
    if value in LIST_JOBS_PRIORITY_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {LIST_JOBS_PRIORITY_VALUES!r}")
