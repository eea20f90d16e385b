"""Saved workflow histories: recorded from real runs, replayed by every later build.

``SYNCLINE_RECORD_HISTORIES=1 python -m pytest tests/workflows`` rewrites them. Do that
only for a change that is meant to be incompatible (and then version the workflow);
otherwise a replay failure means the change would break runs already in flight.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory

HISTORY_DIR = Path(__file__).resolve().parent.parent / "histories"


async def record_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    if os.environ.get("SYNCLINE_RECORD_HISTORIES") != "1":
        return
    history = await handle.fetch_history()
    HISTORY_DIR.mkdir(exist_ok=True)
    # The workflow id is part of what the code sees (exception ids derive from it).
    saved = {"workflow_id": history.workflow_id, "history": json.loads(history.to_json())}
    (HISTORY_DIR / f"{name}.json").write_text(json.dumps(saved, indent=1))


def load_history(path: Path) -> WorkflowHistory:
    saved = json.loads(path.read_text())
    return WorkflowHistory.from_json(saved["workflow_id"], saved["history"])


async def signals_taken(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether a workflow task completed after the run's last signal (the run has taken
    every signal sent so far)."""
    kinds = [e.event_type for e in (await handle.fetch_history()).events]
    signalled = [
        i for i, k in enumerate(kinds) if k == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    return not signalled or EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in kinds[signalled[-1] :]


async def search_attribute_upserts(handle: WorkflowHandle[Any, Any]) -> int:
    """Upserts in the run's history so far: each is an event and a billable action."""
    kinds = [e.event_type for e in (await handle.fetch_history()).events]
    return kinds.count(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
