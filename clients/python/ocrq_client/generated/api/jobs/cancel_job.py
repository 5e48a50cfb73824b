from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.cancel_job_purge import CancelJobPurge
from ...models.cancel_job_purge import check_cancel_job_purge
from ...models.job_out import JobOut
from ...models.problem import Problem
from ...types import UNSET, Unset
from typing import cast


def _get_kwargs(
    job_id: str,
    *,
    purge: CancelJobPurge | Unset = 'false',

) -> dict[str, Any]:


    params: dict[str, Any] = {}

    json_purge: str | Unset = UNSET
    if not isinstance(purge, Unset):
        json_purge = purge

    params["purge"] = json_purge


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "delete",
        "url": "/v1/jobs/{job_id}".format(job_id=quote(str(job_id), safe=""),),
        "params": params,
    }


    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Any | JobOut | Problem | str | None:
    if response.status_code == 200:
        response_200 = JobOut.from_dict(response.json())


        return response_200

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

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())


        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Any | JobOut | Problem | str]:
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
    purge: CancelJobPurge | Unset = 'false',

) -> Response[Any | JobOut | Problem | str]:
    """ Cancel a queued job or a running document (its pages not yet started); with ?purge=true delete a
    finished job and its data

    Args:
        job_id (str):
        purge (CancelJobPurge | Unset):  Default: 'false'.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | JobOut | Problem | str]
     """


    kwargs = _get_kwargs(
        job_id=job_id,
purge=purge,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    job_id: str,
    *,
    client: AuthenticatedClient | Client,
    purge: CancelJobPurge | Unset = 'false',

) -> Any | JobOut | Problem | str | None:
    """ Cancel a queued job or a running document (its pages not yet started); with ?purge=true delete a
    finished job and its data

    Args:
        job_id (str):
        purge (CancelJobPurge | Unset):  Default: 'false'.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | JobOut | Problem | str
     """


    return sync_detailed(
        job_id=job_id,
client=client,
purge=purge,

    ).parsed

async def asyncio_detailed(
    job_id: str,
    *,
    client: AuthenticatedClient | Client,
    purge: CancelJobPurge | Unset = 'false',

) -> Response[Any | JobOut | Problem | str]:
    """ Cancel a queued job or a running document (its pages not yet started); with ?purge=true delete a
    finished job and its data

    Args:
        job_id (str):
        purge (CancelJobPurge | Unset):  Default: 'false'.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | JobOut | Problem | str]
     """


    kwargs = _get_kwargs(
        job_id=job_id,
purge=purge,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    job_id: str,
    *,
    client: AuthenticatedClient | Client,
    purge: CancelJobPurge | Unset = 'false',

) -> Any | JobOut | Problem | str | None:
    """ Cancel a queued job or a running document (its pages not yet started); with ?purge=true delete a
    finished job and its data

    Args:
        job_id (str):
        purge (CancelJobPurge | Unset):  Default: 'false'.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | JobOut | Problem | str
     """


    return (await asyncio_detailed(
        job_id=job_id,
client=client,
purge=purge,

    )).parsed
