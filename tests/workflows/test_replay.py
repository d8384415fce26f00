"""Every saved history replays with today's workflow code."""

from __future__ import annotations

import json

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.workflows.histories import HISTORIES
from worker import registered_workflows

SAVED = sorted(HISTORIES.glob("*.json"))


def _workflow_type(path) -> str:
    events = json.loads(path.read_text())["events"]
    return events[0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]


@pytest.mark.parametrize("path", SAVED, ids=[path.stem for path in SAVED])
async def test_saved_history_replays(path) -> None:
    replayer = Replayer(workflows=registered_workflows(), data_converter=pydantic_data_converter)
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await replayer.replay_workflow(history)


def test_every_workflow_has_a_saved_history() -> None:
    saved_types = {_workflow_type(path) for path in SAVED}
    registered = {workflow._Definition.must_from_class(cls).name for cls in registered_workflows()}
    assert registered <= saved_types, f"record a history for: {registered - saved_types}"
