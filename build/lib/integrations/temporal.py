"""The Temporal client every process uses: same address, namespace and the
pydantic data converter, so workflow inputs and outputs are pydantic models."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from settings import Settings


async def connect(
    settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None
) -> Client:
    return await Client.connect(
        settings.effective_temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        lazy=lazy,
        runtime=runtime,
    )


async def is_reachable(client: Client, *, within: timedelta = timedelta(seconds=2)) -> bool:
    try:
        async with asyncio.timeout(within.total_seconds() + 1):
            return await client.service_client.check_health(timeout=within)
    except Exception:
        return False
