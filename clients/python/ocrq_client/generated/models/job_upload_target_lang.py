from typing import Literal

JobUploadTargetLang = Literal['en', 'zh']

JOB_UPLOAD_TARGET_LANG_VALUES: set[JobUploadTargetLang] = { 'en', 'zh',  }

def check_job_upload_target_lang(value: str) -> JobUploadTargetLang:
    if value in JOB_UPLOAD_TARGET_LANG_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {JOB_UPLOAD_TARGET_LANG_VALUES!r}")
