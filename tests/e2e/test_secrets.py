"""No secret leaves where it belongs: after everything the session's earlier tests did
(deals, faults, parks, reconciliations), none of the stack's secrets is in a process
log, a trace (the e2e stacks print their spans to the logs), a workflow history,
Syncline's database or an API answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

SECRETS = (
    "SYNCLINE_API_TOKEN",  # deprecated; the stack no longer sets it
    "SYNCLINE_OPERATOR_KEY",  # the dev admin's personal key: only its hash is stored
    "SYNCLINE_WEBHOOK_SECRET",
    "SYNCLINE_CRM_CLIENT_SECRET",
    # Tryton's application key; NetSuite's credentials below
    "SYNCLINE_ERP_CLIENT_SECRET",
    "SYNCLINE_ERP_CONSUMER_SECRET",
    "SYNCLINE_ERP_TOKEN_SECRET",
)


def _secrets(stack: Stack) -> dict[str, str]:
    found = {name: stack.env[name] for name in SECRETS if stack.env.get(name)}
    key_file = stack.env.get("SYNCLINE_ERP_PRIVATE_KEY_FILE")
    if key_file:  # the key's body, a line of it being enough to give it away
        found["SYNCLINE_ERP_PRIVATE_KEY_FILE"] = Path(key_file).read_text().splitlines()[1]
    return found


def _leaks(stack: Stack, text: str) -> list[str]:
    return [name for name, secret in _secrets(stack).items() if secret in text]


async def test_no_secret_in_logs_histories_database_or_answers(stack: Stack) -> None:
    found: dict[str, list[str]] = {}

    spans = 0
    for log in sorted((stack.dev.workdir / "logs").glob("*.log")):
        text = log.read_text(errors="replace")
        spans += text.count('"trace_id"')
        leaks = _leaks(stack, text)
        if leaks:
            found[f"log {log.name}"] = leaks
    assert spans > 0, "no span reached the logs: the trace check would be vacuous"

    client = await Client.connect(
        stack.dev.temporal_address, data_converter=pydantic_data_converter
    )
    histories = 0
    async for execution in client.list_workflows():
        history = await client.get_workflow_handle(
            execution.id, run_id=execution.run_id
        ).fetch_history()
        histories += 1
        leaks = _leaks(stack, history.to_json())
        if leaks:
            found[f"history {execution.id}"] = leaks
    assert histories > 0

    engine = create_async_engine(stack.env["SYNCLINE_DATABASE_URL"])
    try:
        async with engine.connect() as connection:
            for table in (
                "webhook_deliveries",
                "ledger_events",
                "exceptions",
                "reconciliation_runs",
                "reconciliation_findings",
                "operator_keys",
                "audit_log",
            ):
                rows = (await connection.execute(sa.text(f"SELECT * FROM {table}"))).all()
                leaks = _leaks(stack, "\n".join(repr(tuple(row)) for row in rows))
                if leaks:
                    found[f"table {table}"] = leaks
    finally:
        await engine.dispose()

    answers: list[Any] = []
    for path in ("/api/exceptions", "/api/reconciliations", "/api/erp-feed", "/openapi.json"):
        answers.append((await stack.api.get(path)).json())
    refused = await stack.api.post(
        "/webhooks/salesforce", content=b"{}", headers={"X-Syncline-Signature": "sha256=0"}
    )
    answers.append(refused.json())
    leaks = _leaks(stack, json.dumps(answers))
    if leaks:
        found["API answers"] = leaks

    assert found == {}
