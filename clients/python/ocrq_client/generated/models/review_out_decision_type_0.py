from typing import Literal

ReviewOutDecisionType0 = Literal['approve', 'correct', 'reject']

REVIEW_OUT_DECISION_TYPE_0_VALUES: set[ReviewOutDecisionType0] = { 'approve', 'correct', 'reject',  }

def check_review_out_decision_type_0(value: str) -> ReviewOutDecisionType0:
    if value in REVIEW_OUT_DECISION_TYPE_0_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {REVIEW_OUT_DECISION_TYPE_0_VALUES!r}")
