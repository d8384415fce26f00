"""What every process-owned workflow (ARCHITECTURE.md, "one way to write")
does first: write its object's row through an activity, and answer the
service's `created` update once the row is written or refused. A refusal
(e.g. a concurrent twin won a unique index) ends the run with nothing
written, so the start that failed leaves nothing behind."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.options import FirstStep


class WritesItsRow:
    """A mixin of workflow classes: `await self._write_row(...)` first in
    `run`; the service calls `created` with update-with-start."""

    def __init__(self) -> None:
        self._written = False
        self._first_step = FirstStep()

    async def _write_row(self, step: Awaitable[Any]) -> None:
        """`step`: the activity call that writes the row."""
        await self._first_step.run(step)
        self._written = True

    @workflow.update(name="created")
    async def created(self) -> None:
        """Answers once the row is written (or refused)."""
        refused = self._first_step
        await workflow.wait_condition(lambda: self._written or refused.refusal is not None)
        if refused.refusal is not None:
            raise refused.refusal
