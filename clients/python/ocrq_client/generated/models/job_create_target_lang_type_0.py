from typing import Literal

JobCreateTargetLangType0 = Literal['en', 'zh']

JOB_CREATE_TARGET_LANG_TYPE_0_VALUES: set[JobCreateTargetLangType0] = { 'en', 'zh',  }

def check_job_create_target_lang_type_0(value: str) -> JobCreateTargetLangType0:
    if value in JOB_CREATE_TARGET_LANG_TYPE_0_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {JOB_CREATE_TARGET_LANG_TYPE_0_VALUES!r}")
