from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.list_reviews_state import check_list_reviews_state
from ...models.list_reviews_state import ListReviewsState
from ...models.problem import Problem
from ...models.review_list import ReviewList
from ...types import UNSET, Unset
from typing import cast


def _get_kwargs(
    *,
    state: ListReviewsState | Unset = 'open',
    reason: str | Unset = UNSET,
    batch_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    cursor: str | Unset = UNSET,

) -> dict[str, Any]:


    params: dict[str, Any] = {}

    json_state: str | Unset = UNSET
    if not isinstance(state, Unset):
        json_state = state

    params["state"] = json_state

    params["reason"] = reason

    params["batch_id"] = batch_id

    params["limit"] = limit

    params["cursor"] = cursor


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/reviews",
        "params": params,
    }


    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | ReviewList | str | None:
    if response.status_code == 200:
        response_200 = ReviewList.from_dict(response.json())


        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())


        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())


        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())


        return response_403

    if response.status_code == 414:
        response_414 = response.text
        return response_414

    if response.status_code == 429:
        response_429 = Problem.from_dict(response.json())


        return response_429

    if response.status_code == 500:
        response_500 = Problem.from_dict(response.json())


        return response_500

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | ReviewList | str]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    state: ListReviewsState | Unset = 'open',
    reason: str | Unset = UNSET,
    batch_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    cursor: str | Unset = UNSET,

) -> Response[Problem | ReviewList | str]:
    """ The tenant's reviews in a state, oldest first, with counts by reason

    Args:
        state (ListReviewsState | Unset):  Default: 'open'.
        reason (str | Unset):
        batch_id (str | Unset):
        limit (int | Unset):  Default: 50.
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | ReviewList | str]
     """


    kwargs = _get_kwargs(
        state=state,
reason=reason,
batch_id=batch_id,
limit=limit,
cursor=cursor,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient | Client,
    state: ListReviewsState | Unset = 'open',
    reason: str | Unset = UNSET,
    batch_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    cursor: str | Unset = UNSET,

) -> Problem | ReviewList | str | None:
    """ The tenant's reviews in a state, oldest first, with counts by reason

    Args:
        state (ListReviewsState | Unset):  Default: 'open'.
        reason (str | Unset):
        batch_id (str | Unset):
        limit (int | Unset):  Default: 50.
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | ReviewList | str
     """


    return sync_detailed(
        client=client,
state=state,
reason=reason,
batch_id=batch_id,
limit=limit,
cursor=cursor,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    state: ListReviewsState | Unset = 'open',
    reason: str | Unset = UNSET,
    batch_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    cursor: str | Unset = UNSET,

) -> Response[Problem | ReviewList | str]:
    """ The tenant's reviews in a state, oldest first, with counts by reason

    Args:
        state (ListReviewsState | Unset):  Default: 'open'.
        reason (str | Unset):
        batch_id (str | Unset):
        limit (int | Unset):  Default: 50.
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | ReviewList | str]
     """


    kwargs = _get_kwargs(
        state=state,
reason=reason,
batch_id=batch_id,
limit=limit,
cursor=cursor,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    state: ListReviewsState | Unset = 'open',
    reason: str | Unset = UNSET,
    batch_id: str | Unset = UNSET,
    limit: int | Unset = 50,
    cursor: str | Unset = UNSET,

) -> Problem | ReviewList | str | None:
    """ The tenant's reviews in a state, oldest first, with counts by reason

    Args:
        state (ListReviewsState | Unset):  Default: 'open'.
        reason (str | Unset):
        batch_id (str | Unset):
        limit (int | Unset):  Default: 50.
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | ReviewList | str
     """


    return (await asyncio_detailed(
        client=client,
state=state,
reason=reason,
batch_id=batch_id,
limit=limit,
cursor=cursor,

    )).parsed
