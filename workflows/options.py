"""How the order's workflows call their activities."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

# A charge or a refund may wait on an unavailable provider: retried with
# backoff, never given up (the installment stays `error` meanwhile).
MONEY_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=60),
    # These heartbeat: if their worker dies they are retried within seconds.
    "heartbeat_timeout": timedelta(seconds=5),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
    ),
}
ACTIVITY_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}


async def db_step(activity: Any, argument: Any) -> Any:
    """A database-only step, as a local activity: it runs inside the workflow
    task that asked for it, so a tunnel step costs one server round trip, not
    one per write."""
    return await workflow.execute_local_activity_method(activity, argument, **ACTIVITY_OPTIONS)


async def call(activity: Any, argument: Any) -> Any:
    """A step that reaches outside (a mail server, the LMS): a regular activity."""
    return await workflow.execute_activity_method(activity, argument, **ACTIVITY_OPTIONS)


def business_error(error: ActivityError) -> BaseException:
    """The activity's own ApplicationError (a business refusal) when there is one."""
    return error.cause if isinstance(error.cause, ApplicationError) else error
