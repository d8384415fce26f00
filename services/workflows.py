"""The workflow gateway: the one place that calls the Temporal client.

It owns how a call waits (the settings' workflow call timeout), how a
workflow is started (conflict and reuse policies) and how Temporal's
failures read as domain errors: a business refusal inside an update becomes
its own DomainError; a slow or unreachable Temporal 504 `workflow_timeout`
or 503 `temporal_unavailable` (the client may retry with the same
Idempotency-Key); a workflow that is over 409 `workflow_closed`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WithStartWorkflowOperation,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import Conflict, DomainError, error_class
from integrations.temporal import from_application_error

T = TypeVar("T")


class WorkflowTimeout(DomainError):
    status = 504
    code = "workflow_timeout"


class TemporalUnavailable(DomainError):
    status = 503
    code = "temporal_unavailable"


WorkflowClosed = error_class(Conflict, "workflow_closed")
# Webhooks signal inside the transaction that stores their event: keep it short.
SIGNAL_BUDGET = timedelta(seconds=5)


def _timeout() -> WorkflowTimeout:
    return WorkflowTimeout(
        "The request is taking longer than expected; it may still complete. "
        "Check its state or retry it."
    )


async def workflow_call(call: Awaitable[T], *, within: timedelta) -> T:
    """Await a workflow call for at most `within`, its failures as domain errors."""
    try:
        async with asyncio.timeout(within.total_seconds()):
            return await call
    except WorkflowUpdateFailedError as error:
        refusal = from_application_error(error.cause)
        if refusal is not None:
            raise refusal from None
        raise
    except TimeoutError:
        raise _timeout() from None
    except RPCTimeoutOrCancelledError:
        # An update cancelled by our own deadline: the SDK turns the
        # cancellation into this error, which asyncio.timeout cannot see as
        # its own (it was a 500 under load, bench.orders).
        raise _timeout() from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise WorkflowClosed("This order no longer accepts changes.") from None
        raise TemporalUnavailable("The workflow service is unavailable; retry later.") from None
    except RuntimeError as error:
        # A lazy client that cannot reach Temporal fails its first call so.
        if not str(error).startswith("Failed client connect"):
            raise
        raise TemporalUnavailable("The workflow service is unavailable; retry later.") from None


async def signal_if_running(
    handle: WorkflowHandle, signal: Any, argument: Any, *, within: timedelta = SIGNAL_BUDGET
) -> bool:
    """Signal a workflow; False if it is over (nothing waits for the news).
    An unreachable Temporal is a 503 (or 504), not a news silently lost."""
    try:
        await workflow_call(handle.signal(signal, argument), within=within)
    except WorkflowClosed:
        return False
    return True


def _arguments(argument: Any) -> Sequence[Any]:
    return () if argument is None else (argument,)


async def update(
    *,
    temporal: Client,
    run: Any,
    workflow_id: str,
    update: Any,
    argument: Any = None,
    within: timedelta,
) -> Any:
    """Send `update` to a running workflow; its answer, or its refusal."""
    handle = temporal.get_workflow_handle_for(run, workflow_id)
    return await workflow_call(handle.execute_update(update, *_arguments(argument)), within=within)


async def update_with_start(
    *,
    temporal: Client,
    run: Any,
    workflow_id: str,
    workflow_input: Any,
    task_queue: str,
    update: Any,
    argument: Any = None,
    within: timedelta,
    id_conflict_policy: WorkflowIDConflictPolicy,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    summary: str | None = None,
) -> Any:
    """Send `update` to the workflow, starting it with `workflow_input` unless
    one is running: the start and the first answer in one round trip.
    `summary`: the line the Web UI shows for it (no personal data)."""
    operation = WithStartWorkflowOperation(
        run,
        workflow_input,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=id_conflict_policy,
        id_reuse_policy=id_reuse_policy,
        static_summary=summary,
    )
    return await workflow_call(
        temporal.execute_update_with_start_workflow(
            update, *_arguments(argument), start_workflow_operation=operation
        ),
        within=within,
    )


async def signal(
    *, temporal: Client, workflow_id: str, signal: Any, argument: Any, within: timedelta
) -> bool:
    """Signal a workflow by id; False if it is over."""
    handle = temporal.get_workflow_handle(workflow_id)
    return await signal_if_running(handle, signal, argument, within=within)


async def signal_with_start(
    *,
    temporal: Client,
    run: Any,
    workflow_id: str,
    workflow_input: Any,
    task_queue: str,
    signal: str,
    argument: Any,
    within: timedelta,
) -> None:
    """Signal the running workflow, or start a new run with the signal: news
    that must not be lost when the workflow has ended."""
    await workflow_call(
        temporal.start_workflow(
            run,
            workflow_input,
            id=workflow_id,
            task_queue=task_queue,
            start_signal=signal,
            start_signal_args=[argument],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        ),
        within=within,
    )


async def start(
    *,
    temporal: Client,
    run: Any,
    workflow_id: str,
    task_queue: str,
    within: timedelta,
    workflow_input: Any = None,
    id_conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.FAIL,
) -> None:
    """Start a workflow that answers nothing at once; USE_EXISTING makes a
    start asked twice (a redelivered webhook) one run."""
    await workflow_call(
        temporal.start_workflow(
            run,
            *_arguments(workflow_input),
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=id_conflict_policy,
        ),
        within=within,
    )


async def is_running(*, temporal: Client, workflow_id: str, within: timedelta) -> bool | None:
    """True while the workflow runs, False once it is over, None if there is
    no such workflow."""
    try:
        described = await workflow_call(
            temporal.get_workflow_handle(workflow_id).describe(), within=within
        )
    except WorkflowClosed:
        return None  # NOT_FOUND: no workflow with this id
    return described.status == WorkflowExecutionStatus.RUNNING


async def find(
    *, temporal: Client, query: str, within: timedelta, limit: int = 100
) -> list[WorkflowExecution]:
    """Workflows a visibility query finds (newest first), at most `limit`."""

    async def collect() -> list[WorkflowExecution]:
        return [item async for item in temporal.list_workflows(query, limit=limit)]

    return await workflow_call(collect(), within=within)


async def history(*, temporal: Client, workflow_id: str, within: timedelta) -> WorkflowHistory:
    """A workflow's history so far (its latest run); 409 `workflow_closed`
    when no workflow has this id."""
    handle = temporal.get_workflow_handle(workflow_id)
    return await workflow_call(handle.fetch_history(), within=within)
