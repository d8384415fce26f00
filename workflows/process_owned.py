"""What every process-owned workflow (ARCHITECTURE.md, "one way to write")
does first: write its object's row through an activity, and answer the
service's `created` update once the row is written or refused. A refusal
(e.g. a concurrent twin won a unique index) ends the run with nothing
written, so the start that failed leaves nothing behind."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError


class WritesItsRow:
    """A mixin of workflow classes: `await self._write_row(...)` first in
    `run`; the service calls `created` with update-with-start."""

    def __init__(self) -> None:
        self._written = False
        self._refusal: BaseException | None = None

    async def _write_row(self, step: Awaitable[Any]) -> None:
        """`step`: the activity call that writes the row."""
        try:
            await step
        except ActivityError as error:
            cause = error.cause
            self._refusal = cause if isinstance(cause, ApplicationError) else error
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise self._refusal from None
        self._written = True

    @workflow.update(name="created")
    async def created(self) -> None:
        """Answers once the row is written (or refused)."""
        await workflow.wait_condition(lambda: self._written or self._refusal is not None)
        if self._refusal is not None:
            raise self._refusal
