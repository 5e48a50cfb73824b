from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.problem import Problem
from ...models.redeliver_out import RedeliverOut
from typing import cast


def _get_kwargs(
    job_id: str,

) -> dict[str, Any]:


    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/jobs/{job_id}/deliveries/redeliver".format(job_id=quote(str(job_id), safe=""),),
    }


    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | RedeliverOut | str | None:
    if response.status_code == 202:
        response_202 = RedeliverOut.from_dict(response.json())


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

    if response.status_code == 410:
        response_410 = Problem.from_dict(response.json())


        return response_410

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | RedeliverOut | str]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    job_id: str,
    *,
    client: AuthenticatedClient | Client,

) -> Response[Problem | RedeliverOut | str]:
    """ Send the job's events again, with their original webhook-ids

    Args:
        job_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RedeliverOut | str]
     """


    kwargs = _get_kwargs(
        job_id=job_id,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    job_id: str,
    *,
    client: AuthenticatedClient | Client,

) -> Problem | RedeliverOut | str | None:
    """ Send the job's events again, with their original webhook-ids

    Args:
        job_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RedeliverOut | str
     """


    return sync_detailed(
        job_id=job_id,
client=client,

    ).parsed

async def asyncio_detailed(
    job_id: str,
    *,
    client: AuthenticatedClient | Client,

) -> Response[Problem | RedeliverOut | str]:
    """ Send the job's events again, with their original webhook-ids

    Args:
        job_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RedeliverOut | str]
     """


    kwargs = _get_kwargs(
        job_id=job_id,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    job_id: str,
    *,
    client: AuthenticatedClient | Client,

) -> Problem | RedeliverOut | str | None:
    """ Send the job's events again, with their original webhook-ids

    Args:
        job_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RedeliverOut | str
     """


    return (await asyncio_detailed(
        job_id=job_id,
client=client,

    )).parsed
