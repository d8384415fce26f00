"""Saved workflow histories for replay tests.

Each workflow test that runs a workflow end to end passes its history to
`save_history`; with GUICHET_RECORD_HISTORIES=1 it is written here (commit it
when a workflow changes on purpose). test_replay.py replays every file with
the current code: a change that breaks determinism for running workflows fails.
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import WorkflowHistory

HISTORIES = Path(__file__).resolve().parent


def save_history(name: str, history: WorkflowHistory) -> None:
    if os.environ.get("GUICHET_RECORD_HISTORIES") == "1":
        (HISTORIES / f"{name}.json").write_text(history.to_json())
