from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.failure_list import FailureList
from ...models.problem import Problem
from ...types import UNSET, Unset
from typing import cast


def _get_kwargs(
    batch_id: str,
    *,
    cursor: str | Unset = '0',
    limit: int | Unset = 100,

) -> dict[str, Any]:


    params: dict[str, Any] = {}

    params["cursor"] = cursor

    params["limit"] = limit


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/batches/{batch_id}/failures".format(batch_id=quote(str(batch_id), safe=""),),
        "params": params,
    }


    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> FailureList | Problem | str | None:
    if response.status_code == 200:
        response_200 = FailureList.from_dict(response.json())


        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())


        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())


        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())


        return response_404

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[FailureList | Problem | str]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    batch_id: str,
    *,
    client: AuthenticatedClient | Client,
    cursor: str | Unset = '0',
    limit: int | Unset = 100,

) -> Response[FailureList | Problem | str]:
    """ Failed items with their reasons

    Args:
        batch_id (str):
        cursor (str | Unset):  Default: '0'.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[FailureList | Problem | str]
     """


    kwargs = _get_kwargs(
        batch_id=batch_id,
cursor=cursor,
limit=limit,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    batch_id: str,
    *,
    client: AuthenticatedClient | Client,
    cursor: str | Unset = '0',
    limit: int | Unset = 100,

) -> FailureList | Problem | str | None:
    """ Failed items with their reasons

    Args:
        batch_id (str):
        cursor (str | Unset):  Default: '0'.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        FailureList | Problem | str
     """


    return sync_detailed(
        batch_id=batch_id,
client=client,
cursor=cursor,
limit=limit,

    ).parsed

async def asyncio_detailed(
    batch_id: str,
    *,
    client: AuthenticatedClient | Client,
    cursor: str | Unset = '0',
    limit: int | Unset = 100,

) -> Response[FailureList | Problem | str]:
    """ Failed items with their reasons

    Args:
        batch_id (str):
        cursor (str | Unset):  Default: '0'.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[FailureList | Problem | str]
     """


    kwargs = _get_kwargs(
        batch_id=batch_id,
cursor=cursor,
limit=limit,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    batch_id: str,
    *,
    client: AuthenticatedClient | Client,
    cursor: str | Unset = '0',
    limit: int | Unset = 100,

) -> FailureList | Problem | str | None:
    """ Failed items with their reasons

    Args:
        batch_id (str):
        cursor (str | Unset):  Default: '0'.
        limit (int | Unset):  Default: 100.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        FailureList | Problem | str
     """


    return (await asyncio_detailed(
        batch_id=batch_id,
client=client,
cursor=cursor,
limit=limit,

    )).parsed
