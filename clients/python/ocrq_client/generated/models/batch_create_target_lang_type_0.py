from typing import Literal

BatchCreateTargetLangType0 = Literal['en', 'zh']

BATCH_CREATE_TARGET_LANG_TYPE_0_VALUES: set[BatchCreateTargetLangType0] = { 'en', 'zh',  }

def check_batch_create_target_lang_type_0(value: str) -> BatchCreateTargetLangType0:
    if value in BATCH_CREATE_TARGET_LANG_TYPE_0_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {BATCH_CREATE_TARGET_LANG_TYPE_0_VALUES!r}")
