from typing import Literal

ReviewDecisionInDecision = Literal['approve', 'correct', 'reject']

REVIEW_DECISION_IN_DECISION_VALUES: set[ReviewDecisionInDecision] = { 'approve', 'correct', 'reject',  }

def check_review_decision_in_decision(value: str) -> ReviewDecisionInDecision:
    if value in REVIEW_DECISION_IN_DECISION_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {REVIEW_DECISION_IN_DECISION_VALUES!r}")
