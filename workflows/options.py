"""How the order's workflows call their activities."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.emails import EMAIL_RETRY, EmailActivities, EmailRequest

T = TypeVar("T")

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
EMAIL_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": EMAIL_RETRY,
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


def business_error(error: ActivityError | ApplicationError) -> BaseException:
    """The activity's own ApplicationError (a business refusal) when there is one."""
    if isinstance(error, ApplicationError):
        return error
    return error.cause if isinstance(error.cause, ApplicationError) else error


class FirstStep:
    """A run's first step, which may be refused (the order, the campaign, the
    refund is not possible): the refusal is kept for the updates waiting on
    it, the run lets them answer, then fails with it; nothing was written."""

    def __init__(self) -> None:
        self.refusal: BaseException | None = None

    async def run(self, step: Awaitable[T]) -> T:
        try:
            return await step
        # A regular activity's refusal comes wrapped in an ActivityError; a
        # local activity's (db_step) as its own ApplicationError. Either way
        # the updates waiting on the step answer it before the run fails.
        except (ActivityError, ApplicationError) as error:
            self.refusal = business_error(error)
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise self.refusal from None


class SideEffects:
    """A workflow's mails and LMS notices, run apart from its progress: each
    in a task of its own, so a mail server or an LMS that is down, or an
    address refused, never holds up a debit or a transition. The run waits
    for them only before it ends."""

    def __init__(self) -> None:
        self._pending: list[asyncio.Task[None]] = []

    def mail(self, request: EmailRequest) -> None:
        self._pending.append(asyncio.create_task(self._mail(request)))

    def call(self, activity: Any, argument: Any) -> None:
        self._pending.append(asyncio.create_task(self._call(activity, argument)))

    @staticmethod
    async def _mail(request: EmailRequest) -> None:
        try:
            await workflow.execute_activity_method(EmailActivities.send, request, **EMAIL_OPTIONS)
        except ActivityError:
            # Recorded on the order by the activity (`email_failed`).
            workflow.logger.warning("mail %s not sent", request.kind.value)

    @staticmethod
    async def _call(activity: Any, argument: Any) -> None:
        # Retried until it succeeds, in the background.
        await workflow.execute_activity_method(activity, argument, **ACTIVITY_OPTIONS)

    async def done(self) -> None:
        """Every side effect asked for has run (or, a mail, been given up)."""
        await asyncio.gather(*self._pending)
