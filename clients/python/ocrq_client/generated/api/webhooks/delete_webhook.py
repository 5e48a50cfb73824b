from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.problem import Problem
from typing import cast


def _get_kwargs(
    ep_id: str,

) -> dict[str, Any]:


    _kwargs: dict[str, Any] = {
        "method": "delete",
        "url": "/v1/webhooks/{ep_id}".format(ep_id=quote(str(ep_id), safe=""),),
    }


    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Any | Problem | str | None:
    if response.status_code == 204:
        response_204 = cast(Any, None)
        return response_204

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Any | Problem | str]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    ep_id: str,
    *,
    client: AuthenticatedClient | Client,

) -> Response[Any | Problem | str]:
    """ Delete an endpoint

    Args:
        ep_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem | str]
     """


    kwargs = _get_kwargs(
        ep_id=ep_id,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    ep_id: str,
    *,
    client: AuthenticatedClient | Client,

) -> Any | Problem | str | None:
    """ Delete an endpoint

    Args:
        ep_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem | str
     """


    return sync_detailed(
        ep_id=ep_id,
client=client,

    ).parsed

async def asyncio_detailed(
    ep_id: str,
    *,
    client: AuthenticatedClient | Client,

) -> Response[Any | Problem | str]:
    """ Delete an endpoint

    Args:
        ep_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem | str]
     """


    kwargs = _get_kwargs(
        ep_id=ep_id,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    ep_id: str,
    *,
    client: AuthenticatedClient | Client,

) -> Any | Problem | str | None:
    """ Delete an endpoint

    Args:
        ep_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem | str
     """


    return (await asyncio_detailed(
        ep_id=ep_id,
client=client,

    )).parsed
