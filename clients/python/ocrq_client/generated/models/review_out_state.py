from typing import Literal

ReviewOutState = Literal['claimed', 'open', 'resolved']

REVIEW_OUT_STATE_VALUES: set[ReviewOutState] = { 'claimed', 'open', 'resolved',  }

def check_review_out_state(value: str) -> ReviewOutState:
    if value in REVIEW_OUT_STATE_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {REVIEW_OUT_STATE_VALUES!r}")
