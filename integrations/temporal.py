"""The Temporal client every process uses: same address, namespace and the
pydantic data converter, so workflow inputs and outputs are pydantic models.
Also the reading side of business errors raised by activities and updates
(see activities/failures.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import DomainError
from integrations.payload_codec import AesGcmCodec
from settings import Settings


async def connect(
    settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None
) -> Client:
    return await Client.connect(
        settings.effective_temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        lazy=lazy,
        runtime=runtime,
    )


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic models as payloads, encrypted when payload keys are set."""
    if not settings.payload_keys:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter, payload_codec=AesGcmCodec(settings.payload_keys)
    )


async def missing_search_attributes(
    client: Client, keys: Sequence[SearchAttributeKey]
) -> list[str]:
    """The names of `keys` the client's namespace has not registered."""
    registered = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    return [key.name for key in keys if key.name not in registered.custom_attributes]


async def register_search_attributes(
    client: Client, keys: Sequence[SearchAttributeKey]
) -> list[str]:
    """Register those of `keys` that are missing; the names added. Run again,
    or by another replica at the same time, it adds nothing and fails not."""
    missing = set(await missing_search_attributes(client, keys))
    wanted = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in keys
        if key.name in missing
    }
    if not wanted:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=wanted)
        )
    except RPCError as error:
        if error.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    return sorted(wanted)


async def is_reachable(client: Client, *, within: timedelta = timedelta(seconds=2)) -> bool:
    try:
        async with asyncio.timeout(within.total_seconds() + 1):
            return await client.service_client.check_health(timeout=within)
    except Exception:
        return False


class RemoteDomainError(DomainError):
    """A DomainError raised on the other side of Temporal."""

    def __init__(self, *, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.status = status  # type: ignore[misc]
        self.code = code  # type: ignore[misc]


def from_application_error(error: BaseException | None) -> DomainError | None:
    """The DomainError an ApplicationError (or its cause chain) carries, if any."""
    while error is not None:
        if isinstance(error, ApplicationError) and error.details:
            payload = error.details[0]
            if isinstance(payload, dict) and "status" in payload:
                return RemoteDomainError(
                    status=int(payload["status"]),
                    code=error.type or "error",
                    message=error.message,
                    details=payload.get("details"),
                )
        error = error.__cause__
    return None
