from typing import Literal

QualityOutVerdict = Literal['ok', 'rescan']

QUALITY_OUT_VERDICT_VALUES: set[QualityOutVerdict] = { 'ok', 'rescan',  }

def check_quality_out_verdict(value: str) -> QualityOutVerdict:
    if value in QUALITY_OUT_VERDICT_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {QUALITY_OUT_VERDICT_VALUES!r}")
