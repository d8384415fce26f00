"""The workflow gateway against the Temporal dev server: how Temporal's
answers read as domain errors."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client

from services import workflows


async def _unserved_workflow(temporal_client: Client) -> str:
    """A workflow nobody runs: its task queue has no worker, so an update to it
    waits until the caller gives up."""
    workflow_id = f"gateway-test-{uuid.uuid4()}"
    await temporal_client.start_workflow(
        "NobodyRunsThis", id=workflow_id, task_queue=f"no-worker-{uuid.uuid4()}"
    )
    return workflow_id


async def test_an_update_past_its_deadline_is_a_504(temporal_client: Client) -> None:
    """Found by bench.orders under load: the SDK turns our deadline's
    cancellation into its own error, which was a 500."""
    workflow_id = await _unserved_workflow(temporal_client)
    handle = temporal_client.get_workflow_handle(workflow_id)
    with pytest.raises(workflows.WorkflowTimeout) as raised:
        await workflows.workflow_call(
            handle.execute_update("anything"), within=timedelta(seconds=1)
        )
    assert (raised.value.status, raised.value.code) == (504, "workflow_timeout")
    await handle.terminate()


async def test_a_signal_to_a_workflow_that_is_over_says_so(temporal_client: Client) -> None:
    workflow_id = await _unserved_workflow(temporal_client)
    await temporal_client.get_workflow_handle(workflow_id).terminate()
    running = await workflows.signal(
        temporal=temporal_client,
        workflow_id=workflow_id,
        signal="news",
        argument="x",
        within=timedelta(seconds=5),
    )
    assert running is False


async def test_an_unreachable_temporal_is_a_503() -> None:
    offline = await Client.connect("127.0.0.1:1", lazy=True)
    with pytest.raises(workflows.TemporalUnavailable):
        await workflows.signal(
            temporal=offline,
            workflow_id="order:x",
            signal="news",
            argument="x",
            within=timedelta(seconds=5),
        )
