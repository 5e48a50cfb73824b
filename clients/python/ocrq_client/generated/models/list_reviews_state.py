from typing import Literal

ListReviewsState = Literal['claimed', 'open', 'resolved']

LIST_REVIEWS_STATE_VALUES: set[ListReviewsState] = { 'claimed', 'open', 'resolved',  }

def check_list_reviews_state(value: str) -> ListReviewsState:
    if value in LIST_REVIEWS_STATE_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {LIST_REVIEWS_STATE_VALUES!r}")
