"""Heartbeats for activities that talk to a provider.

With a heartbeat timeout on the activity, Temporal retries it shortly after
its worker dies (a crash, a SIGKILL) instead of after the whole
start-to-close timeout; the activity's own idempotency makes the retry safe.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio import activity

P = ParamSpec("P")
R = TypeVar("R")

BEAT_EVERY_SECONDS = 1.0


def heartbeating(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Heartbeat every second while the activity runs, however long its calls."""

    @functools.wraps(function)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        beats = asyncio.create_task(_beat())
        try:
            return await function(*args, **kwargs)
        finally:
            beats.cancel()

    return wrapper


async def _beat() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(BEAT_EVERY_SECONDS)
