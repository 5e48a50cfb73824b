from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.problem import Problem
from ...models.retry_out import RetryOut
from typing import cast


def _get_kwargs(
    batch_id: str,

) -> dict[str, Any]:


    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/batches/{batch_id}/retry-failed".format(batch_id=quote(str(batch_id), safe=""),),
    }


    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | RetryOut | str | None:
    if response.status_code == 202:
        response_202 = RetryOut.from_dict(response.json())


        return response_202

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())


        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())


        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())


        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())


        return response_404

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())


        return response_409

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | RetryOut | str]:
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

) -> Response[Problem | RetryOut | str]:
    """ Queue the failed items again

    Args:
        batch_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RetryOut | str]
     """


    kwargs = _get_kwargs(
        batch_id=batch_id,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    batch_id: str,
    *,
    client: AuthenticatedClient | Client,

) -> Problem | RetryOut | str | None:
    """ Queue the failed items again

    Args:
        batch_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RetryOut | str
     """


    return sync_detailed(
        batch_id=batch_id,
client=client,

    ).parsed

async def asyncio_detailed(
    batch_id: str,
    *,
    client: AuthenticatedClient | Client,

) -> Response[Problem | RetryOut | str]:
    """ Queue the failed items again

    Args:
        batch_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RetryOut | str]
     """


    kwargs = _get_kwargs(
        batch_id=batch_id,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    batch_id: str,
    *,
    client: AuthenticatedClient | Client,

) -> Problem | RetryOut | str | None:
    """ Queue the failed items again

    Args:
        batch_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RetryOut | str
     """


    return (await asyncio_detailed(
        batch_id=batch_id,
client=client,

    )).parsed
