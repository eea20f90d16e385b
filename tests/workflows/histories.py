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
