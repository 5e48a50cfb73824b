from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.job_list import JobList
from ...models.list_jobs_priority import check_list_jobs_priority
from ...models.list_jobs_priority import ListJobsPriority
from ...models.list_jobs_status import check_list_jobs_status
from ...models.list_jobs_status import ListJobsStatus
from ...models.list_jobs_task import check_list_jobs_task
from ...models.list_jobs_task import ListJobsTask
from ...models.problem import Problem
from ...types import UNSET, Unset
from typing import cast
import datetime


def _get_kwargs(
    *,
    status: ListJobsStatus | Unset = UNSET,
    needs_review: bool | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    task: ListJobsTask | Unset = UNSET,
    priority: ListJobsPriority | Unset = UNSET,
    batch_id: str | Unset = UNSET,
    limit: int | Unset = 20,
    cursor: str | Unset = UNSET,

) -> dict[str, Any]:


    params: dict[str, Any] = {}

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status

    params["status"] = json_status

    params["needs_review"] = needs_review

    json_created_after: str | Unset = UNSET
    if not isinstance(created_after, Unset):
        json_created_after = created_after.isoformat()
    params["created_after"] = json_created_after

    json_created_before: str | Unset = UNSET
    if not isinstance(created_before, Unset):
        json_created_before = created_before.isoformat()
    params["created_before"] = json_created_before

    json_task: str | Unset = UNSET
    if not isinstance(task, Unset):
        json_task = task

    params["task"] = json_task

    json_priority: str | Unset = UNSET
    if not isinstance(priority, Unset):
        json_priority = priority

    params["priority"] = json_priority

    params["batch_id"] = batch_id

    params["limit"] = limit

    params["cursor"] = cursor


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/jobs",
        "params": params,
    }


    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> JobList | Problem | str | None:
    if response.status_code == 200:
        response_200 = JobList.from_dict(response.json())


        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())


        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())


        return response_401

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[JobList | Problem | str]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    status: ListJobsStatus | Unset = UNSET,
    needs_review: bool | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    task: ListJobsTask | Unset = UNSET,
    priority: ListJobsPriority | Unset = UNSET,
    batch_id: str | Unset = UNSET,
    limit: int | Unset = 20,
    cursor: str | Unset = UNSET,

) -> Response[JobList | Problem | str]:
    """ The tenant's jobs, newest first, with cursor pagination

    Args:
        status (ListJobsStatus | Unset):
        needs_review (bool | Unset):
        created_after (datetime.datetime | Unset):
        created_before (datetime.datetime | Unset):
        task (ListJobsTask | Unset):
        priority (ListJobsPriority | Unset):
        batch_id (str | Unset):
        limit (int | Unset):  Default: 20.
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[JobList | Problem | str]
     """


    kwargs = _get_kwargs(
        status=status,
needs_review=needs_review,
created_after=created_after,
created_before=created_before,
task=task,
priority=priority,
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
    status: ListJobsStatus | Unset = UNSET,
    needs_review: bool | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    task: ListJobsTask | Unset = UNSET,
    priority: ListJobsPriority | Unset = UNSET,
    batch_id: str | Unset = UNSET,
    limit: int | Unset = 20,
    cursor: str | Unset = UNSET,

) -> JobList | Problem | str | None:
    """ The tenant's jobs, newest first, with cursor pagination

    Args:
        status (ListJobsStatus | Unset):
        needs_review (bool | Unset):
        created_after (datetime.datetime | Unset):
        created_before (datetime.datetime | Unset):
        task (ListJobsTask | Unset):
        priority (ListJobsPriority | Unset):
        batch_id (str | Unset):
        limit (int | Unset):  Default: 20.
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        JobList | Problem | str
     """


    return sync_detailed(
        client=client,
status=status,
needs_review=needs_review,
created_after=created_after,
created_before=created_before,
task=task,
priority=priority,
batch_id=batch_id,
limit=limit,
cursor=cursor,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    status: ListJobsStatus | Unset = UNSET,
    needs_review: bool | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    task: ListJobsTask | Unset = UNSET,
    priority: ListJobsPriority | Unset = UNSET,
    batch_id: str | Unset = UNSET,
    limit: int | Unset = 20,
    cursor: str | Unset = UNSET,

) -> Response[JobList | Problem | str]:
    """ The tenant's jobs, newest first, with cursor pagination

    Args:
        status (ListJobsStatus | Unset):
        needs_review (bool | Unset):
        created_after (datetime.datetime | Unset):
        created_before (datetime.datetime | Unset):
        task (ListJobsTask | Unset):
        priority (ListJobsPriority | Unset):
        batch_id (str | Unset):
        limit (int | Unset):  Default: 20.
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[JobList | Problem | str]
     """


    kwargs = _get_kwargs(
        status=status,
needs_review=needs_review,
created_after=created_after,
created_before=created_before,
task=task,
priority=priority,
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
    status: ListJobsStatus | Unset = UNSET,
    needs_review: bool | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    task: ListJobsTask | Unset = UNSET,
    priority: ListJobsPriority | Unset = UNSET,
    batch_id: str | Unset = UNSET,
    limit: int | Unset = 20,
    cursor: str | Unset = UNSET,

) -> JobList | Problem | str | None:
    """ The tenant's jobs, newest first, with cursor pagination

    Args:
        status (ListJobsStatus | Unset):
        needs_review (bool | Unset):
        created_after (datetime.datetime | Unset):
        created_before (datetime.datetime | Unset):
        task (ListJobsTask | Unset):
        priority (ListJobsPriority | Unset):
        batch_id (str | Unset):
        limit (int | Unset):  Default: 20.
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        JobList | Problem | str
     """


    return (await asyncio_detailed(
        client=client,
status=status,
needs_review=needs_review,
created_after=created_after,
created_before=created_before,
task=task,
priority=priority,
batch_id=batch_id,
limit=limit,
cursor=cursor,

    )).parsed
