from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.problem import Problem
from ...models.replay_out import ReplayOut
from ...models.replay_webhook_include_delivered import check_replay_webhook_include_delivered
from ...models.replay_webhook_include_delivered import ReplayWebhookIncludeDelivered
from ...types import UNSET, Unset
from typing import cast
import datetime


def _get_kwargs(
    ep_id: str,
    *,
    since: datetime.datetime,
    include_delivered: ReplayWebhookIncludeDelivered | Unset = 'false',

) -> dict[str, Any]:


    params: dict[str, Any] = {}

    json_since = since.isoformat()
    params["since"] = json_since

    json_include_delivered: str | Unset = UNSET
    if not isinstance(include_delivered, Unset):
        json_include_delivered = include_delivered

    params["include_delivered"] = json_include_delivered


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/webhooks/{ep_id}/replay".format(ep_id=quote(str(ep_id), safe=""),),
        "params": params,
    }


    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | ReplayOut | str | None:
    if response.status_code == 202:
        response_202 = ReplayOut.from_dict(response.json())


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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | ReplayOut | str]:
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
    since: datetime.datetime,
    include_delivered: ReplayWebhookIncludeDelivered | Unset = 'false',

) -> Response[Problem | ReplayOut | str]:
    """ Resend the tenant's events since a time to this endpoint, original webhook-ids

    Args:
        ep_id (str):
        since (datetime.datetime):
        include_delivered (ReplayWebhookIncludeDelivered | Unset):  Default: 'false'.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | ReplayOut | str]
     """


    kwargs = _get_kwargs(
        ep_id=ep_id,
since=since,
include_delivered=include_delivered,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    ep_id: str,
    *,
    client: AuthenticatedClient | Client,
    since: datetime.datetime,
    include_delivered: ReplayWebhookIncludeDelivered | Unset = 'false',

) -> Problem | ReplayOut | str | None:
    """ Resend the tenant's events since a time to this endpoint, original webhook-ids

    Args:
        ep_id (str):
        since (datetime.datetime):
        include_delivered (ReplayWebhookIncludeDelivered | Unset):  Default: 'false'.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | ReplayOut | str
     """


    return sync_detailed(
        ep_id=ep_id,
client=client,
since=since,
include_delivered=include_delivered,

    ).parsed

async def asyncio_detailed(
    ep_id: str,
    *,
    client: AuthenticatedClient | Client,
    since: datetime.datetime,
    include_delivered: ReplayWebhookIncludeDelivered | Unset = 'false',

) -> Response[Problem | ReplayOut | str]:
    """ Resend the tenant's events since a time to this endpoint, original webhook-ids

    Args:
        ep_id (str):
        since (datetime.datetime):
        include_delivered (ReplayWebhookIncludeDelivered | Unset):  Default: 'false'.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | ReplayOut | str]
     """


    kwargs = _get_kwargs(
        ep_id=ep_id,
since=since,
include_delivered=include_delivered,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    ep_id: str,
    *,
    client: AuthenticatedClient | Client,
    since: datetime.datetime,
    include_delivered: ReplayWebhookIncludeDelivered | Unset = 'false',

) -> Problem | ReplayOut | str | None:
    """ Resend the tenant's events since a time to this endpoint, original webhook-ids

    Args:
        ep_id (str):
        since (datetime.datetime):
        include_delivered (ReplayWebhookIncludeDelivered | Unset):  Default: 'false'.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | ReplayOut | str
     """


    return (await asyncio_detailed(
        ep_id=ep_id,
client=client,
since=since,
include_delivered=include_delivered,

    )).parsed
