"""``syncline doctor`` against the real stack: healthy it passes, and each thing a first
install gets wrong, broken in turn, fails its own check and leaves the others alone."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from google.protobuf.duration_pb2 import Duration
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from reconciliation.schedule import ReconcileTiming, ensure_reconcile_schedule
from tests.e2e.conftest import Stack
from workers.doctor import CheckResult, exit_code, render_json, run_doctor
from workers.doctor.runner import settings_from_environment
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES
from workflows.search_attributes import ERP_SUBSCRIPTION_ID

pytestmark = pytest.mark.e2e

Doctor = Callable[..., Awaitable[dict[str, CheckResult]]]
# Checks that cannot run when the one broken fails: reported "skip", never "fail".
DEPENDS_ON = {
    "temporal.connection": {
        "temporal.namespace",
        "temporal.search_attributes",
        "temporal.schedule",
    },
    "crm.login": {"crm.deal_fields", "crm.mirror_fields"},
    "erp.login": {"erp.records", "erp.queries", "erp.concurrency"},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def doctor(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Doctor:
    """Runs the doctor in process on the stack's settings, as a production process reads
    them (``SYNCLINE_ENVIRONMENT=production``), with ``overrides``: its results by name."""

    async def run(**overrides: str) -> dict[str, CheckResult]:
        for key in list(os.environ):
            if key.startswith(("SYNCLINE_", "TEMPORAL_")):
                monkeypatch.delenv(key)
        for key, value in {**stack.env, "SYNCLINE_ENVIRONMENT": "production", **overrides}.items():
            monkeypatch.setenv(key, value)
        results = await run_doctor(settings_from_environment(), timeout=10)
        text = render_json(results)
        for name, value in stack.env.items():
            if name.endswith(("SECRET", "TOKEN")) and len(value) >= 8:
                assert value not in text, f"{name} appears in the report"
        return {result.check: result for result in results}

    return run


def _only_failed(results: Mapping[str, CheckResult], broken: str, status: str = "fail") -> None:
    """``broken`` has ``status``; what needs it is skipped; everything else passed."""
    assert results[broken].status == status, results[broken]
    assert results[broken].fix, results[broken]
    skipped = DEPENDS_ON.get(broken, set())
    for name, result in results.items():
        if name == broken:
            continue
        expected = "skip" if name in skipped else "pass"
        assert result.status == expected, f"{name}: {result}"


async def test_a_healthy_stack_is_ready_for_a_first_deal(doctor: Doctor) -> None:
    results = await doctor()
    assert all(r.status == "pass" for r in results.values()), [
        r for r in results.values() if r.status != "pass"
    ]
    assert exit_code(results.values()) == 0
    assert {"temporal.search_attributes", "database", "crm.deal_fields", "erp.records"} <= set(
        results
    )


async def test_temporal_unreachable(doctor: Doctor) -> None:
    results = await doctor(TEMPORAL_ADDRESS=f"127.0.0.1:{_free_port()}")
    _only_failed(results, "temporal.connection")
    assert exit_code(results.values()) == 1


async def test_a_search_attribute_missing(stack: Stack, doctor: Doctor) -> None:
    """A fresh namespace with the Schedule and every search attribute but one."""
    namespace = f"doctor-{uuid.uuid4().hex[:8]}"
    admin = await Client.connect(stack.env["TEMPORAL_ADDRESS"])
    await admin.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    await admin.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                for key in SEARCH_ATTRIBUTES
                if key is not ERP_SUBSCRIPTION_ID
            },
        )
    )
    scheduler = await Client.connect(
        stack.env["TEMPORAL_ADDRESS"],
        namespace=namespace,
        data_converter=pydantic_data_converter,
    )
    await ensure_reconcile_schedule(scheduler, "syncline", ReconcileTiming())

    results = await doctor(TEMPORAL_NAMESPACE=namespace)
    _only_failed(results, "temporal.search_attributes")
    assert "ErpSubscriptionId" in results["temporal.search_attributes"].detail
    assert "--name ErpSubscriptionId --type Keyword" in (
        results["temporal.search_attributes"].fix or ""
    )


async def test_database_not_migrated(doctor: Doctor, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    results = await doctor(SYNCLINE_DATABASE_URL=f"sqlite+aiosqlite:///{empty}")
    _only_failed(results, "database")
    assert "never migrated" in results["database"].detail
    assert "syncline migrate" in (results["database"].fix or "")


async def test_wrong_crm_secret(doctor: Doctor) -> None:
    results = await doctor(SYNCLINE_CRM_CLIENT_SECRET="not-the-connected-apps-secret")
    _only_failed(results, "crm.login")
    assert "invalid_client" in results["crm.login"].detail


async def test_a_field_missing_from_the_crm_and_one_read_only(stack: Stack, doctor: Doctor) -> None:
    async def field_access(sobject: str, field: str, access: str) -> None:
        await _crm_admin(stack, "PUT", {"object": sobject, "field": field, "access": access})

    try:
        await field_access("Opportunity", "Syncline_Order_Status__c", "none")
        results = await doctor()
        _only_failed(results, "crm.deal_fields")
        assert "Syncline_Order_Status__c" in results["crm.deal_fields"].detail
        assert exit_code(results.values()) == 1

        # A mirror's field is a warning: the deal still goes through.
        await _crm_admin(stack, "DELETE")
        await field_access("Account", "Syncline_Legal_Name__c", "read")
        results = await doctor()
        _only_failed(results, "crm.mirror_fields", status="warn")
        assert "Syncline_Legal_Name__c is not updateable" in results["crm.mirror_fields"].detail
        assert exit_code(results.values()) == 0
    finally:
        await _crm_admin(stack, "DELETE")


async def _crm_admin(stack: Stack, method: str, body: object = None) -> None:
    async with httpx.AsyncClient(base_url=stack.dev.crm_url) as http:
        response = await http.request(method, "/admin/field-security", json=body)
        response.raise_for_status()


async def test_wrong_erp_credentials(stack: Stack, doctor: Doctor) -> None:
    """Tryton: a key the server does not know; NetSuite: a certificate id no integration
    has mapped (the assertion is well formed, so only the login itself can tell)."""
    if stack.env.get("SYNCLINE_ERP_KIND") == "tryton":
        results = await doctor(SYNCLINE_ERP_CLIENT_SECRET="not-the-integrations-key")
    else:
        results = await doctor(SYNCLINE_ERP_CERTIFICATE_ID="not-a-mapped-certificate")
    _only_failed(results, "erp.login")


async def test_placeholder_webhook_secret(doctor: Doctor) -> None:
    """The worker would refuse to start; the doctor names the variable instead."""
    results = await doctor(SYNCLINE_WEBHOOK_SECRET="change-me")
    _only_failed(results, "secrets")
    assert "SYNCLINE_WEBHOOK_SECRET" in results["secrets"].detail


async def test_clock_skew_against_the_crm(stack: Stack, doctor: Doctor) -> None:
    async with _skewed_proxy(stack.env["SYNCLINE_CRM_BASE_URL"], timedelta(minutes=5)) as url:
        results = await doctor(SYNCLINE_CRM_BASE_URL=url)
    _only_failed(results, "crm.clock")
    skew = re.search(r"clock is (\d+) s ahead of", results["crm.clock"].detail)
    assert skew is not None and 298 <= int(skew.group(1)) <= 302, results["crm.clock"].detail


@asynccontextmanager
async def _skewed_proxy(upstream: str, skew: timedelta) -> AsyncIterator[str]:
    """A reverse proxy answering with a ``Date`` ``skew`` off: a server whose clock is."""
    http = httpx.AsyncClient(base_url=upstream)

    async def forward(request: Request) -> Response:
        answer = await http.request(
            request.method,
            request.url.path,
            params=request.query_params,
            content=await request.body(),
            headers={
                k: v for k, v in request.headers.items() if k not in ("host", "content-length")
            },
        )
        headers = {
            k: v
            for k, v in answer.headers.items()
            if k not in ("date", "content-length", "content-encoding", "transfer-encoding")
        }
        headers["date"] = format_datetime(datetime.now(UTC) + skew, usegmt=True)
        return Response(answer.content, answer.status_code, headers=headers)

    app = Starlette(
        routes=[Route("/{path:path}", forward, methods=["GET", "POST", "PATCH", "DELETE"])]
    )
    # Listening before the server starts: a request waits in the backlog, none is refused.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", date_header=False))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
        listener.close()
        await http.aclose()


# -- the command itself, for its exit codes and output ----------------------------------


async def _cli(stack: Stack, *args: str, **overrides: str) -> tuple[int, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        **stack.env,
        "SYNCLINE_ENVIRONMENT": "production",
        **overrides,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.cli",
        "doctor",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    output, errors = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None, errors
    return process.returncode, output.decode()


async def test_cli_json_exits_0_on_a_healthy_stack(stack: Stack) -> None:
    code, output = await _cli(stack, "--json")
    assert code == 0, output
    checks = json.loads(output)
    assert {tuple(sorted(c)) for c in checks} == {
        ("check", "detail", "fix", "ok", "required", "seconds", "status")
    }
    assert all(c["ok"] for c in checks)


async def test_cli_text_exits_1_with_the_fix(stack: Stack) -> None:
    code, output = await _cli(stack, SYNCLINE_API_TOKEN="change-me")
    assert code == 1, output
    assert "✗ secrets" in output and "fix: " in output
    assert "\033[" not in output  # no colour codes when not a terminal
    assert output.rstrip().endswith("not ready for a first deal")
