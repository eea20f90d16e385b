"""The doctor's machinery without a stack: time limits, independence, the report, secrets
kept out of it, and the checks whose logic needs no live system."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from connectors.netsuite import NetSuiteClient
from sandbox.netsuite import build_app
from store import Store
from tests.sandbox_netsuite.helpers import make_config, netsuite_client
from workers.doctor import clock, credentials, database, erp_netsuite
from workers.doctor.checks import CHECKS
from workers.doctor.config_secrets import check_secrets
from workers.doctor.context import DoctorContext
from workers.doctor.model import Check, CheckResult, Outcome, Skipped, exit_code, failed, passed
from workers.doctor.report import render_json, render_text
from workers.doctor.runner import diagnose, run_doctor, settings_from_environment
from workers.settings import Settings

SECRET = "webhook-secret-never-printed"

Env = Callable[..., Settings]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Env:
    """Settings from exactly these variables (production unless they say otherwise)."""

    def build(**variables: str) -> Settings:
        for key in list(os.environ):
            if key.startswith(("SYNCLINE_", "TEMPORAL_")):
                monkeypatch.delenv(key)
        values = {
            "SYNCLINE_ENVIRONMENT": "production",
            "SYNCLINE_WEBHOOK_SECRET": SECRET,
            "SYNCLINE_API_TOKEN": "operator-token-never-printed",
            "SYNCLINE_CRM_CLIENT_SECRET": "crm-secret-never-printed",
            "SYNCLINE_ERP_CLIENT_SECRET": "erp-secret-never-printed",
            # Token-based authentication needs no key file on disk.
            "SYNCLINE_ERP_AUTH": "tba",
            "SYNCLINE_ERP_ACCOUNT_ID": "1234567_SB1",
            "SYNCLINE_ERP_CONSUMER_KEY": "consumer-key",
            "SYNCLINE_ERP_CONSUMER_SECRET": "consumer-secret-never-printed",
            "SYNCLINE_ERP_TOKEN_ID": "token-id",
            "SYNCLINE_ERP_TOKEN_SECRET": "token-secret-never-printed",
            **variables,
        }
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        return settings_from_environment()

    return build


def _check(name: str, outcome: Outcome | BaseException, required: bool = True) -> Check:
    async def run(ctx: DoctorContext) -> Outcome:
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return Check(name, run, f"fix {name}", required)


# -- running ------------------------------------------------------------------------------


async def test_each_check_answers_on_its_own(env: Env) -> None:
    checks = [
        _check("ok", passed("fine")),
        _check("broken", RuntimeError("boom")),
        _check("needs-broken", Skipped("broken failed")),
        _check("optional", failed("not there", "add it"), required=False),
        _check("refused", failed("no", "say yes")),
    ]
    results = {r.check: r for r in await run_doctor(env(), checks=checks)}
    assert [(r.status, r.ok) for r in results.values()] == [
        ("pass", True),
        ("fail", False),
        ("skip", False),
        ("warn", False),
        ("fail", False),
    ]
    assert results["broken"].detail == "RuntimeError: boom"
    assert results["broken"].fix == "fix broken"  # the check's own fix when it could not answer
    assert results["refused"].fix == "say yes"
    assert results["needs-broken"].detail == "not checked: broken failed"
    assert results["ok"].fix is None


async def test_a_hung_system_is_a_failed_check_not_a_hung_command(env: Env) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts the connection and never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    started = time.monotonic()
    try:
        results = await run_doctor(
            env(TEMPORAL_ADDRESS=f"127.0.0.1:{port}"),
            timeout=1.0,
            checks=[c for c in CHECKS if c.name == "temporal.connection"]
            + [_check("secrets-like", passed("fine"))],
        )
    finally:
        server.close()
    assert time.monotonic() - started < 5
    connection, other = results
    assert (connection.status, connection.detail) == ("fail", "timed out after 1 s")
    assert connection.fix and "TEMPORAL_ADDRESS" in connection.fix
    assert other.status == "pass"


async def test_secrets_never_appear_in_the_report(env: Env) -> None:
    leaky = _check("leaky", failed(f"the server said {SECRET}", f"rotate {SECRET}"))
    (result,) = await run_doctor(env(), checks=[leaky])
    assert SECRET not in result.detail + (result.fix or "")
    assert "[secret]" in result.detail


def test_exit_code_counts_required_checks_only() -> None:
    def result(status: str, required: bool) -> CheckResult:
        return CheckResult(
            check=status,
            ok=status == "pass",
            required=required,
            status=status,  # type: ignore[arg-type]
            detail="",
            fix=None,
            seconds=0,
        )

    assert exit_code([result("pass", True), result("warn", False)]) == 0
    assert exit_code([result("pass", True), result("skip", True)]) == 1
    assert exit_code([result("fail", True)]) == 1


# -- settings -----------------------------------------------------------------------------


def test_placeholder_secrets_reach_the_doctor_as_production_sees_them(env: Env) -> None:
    settings = env(SYNCLINE_WEBHOOK_SECRET="change-me")
    assert settings.environment == "production"
    assert settings.webhook_secret.get_secret_value() == "change-me"


async def test_other_bad_settings_are_one_failed_check_without_their_values(env: Env) -> None:
    with pytest.raises(ValidationError):
        env(SYNCLINE_RECONCILE_TIMEZONE="Mars/Olympus_Mons", SYNCLINE_WEBHOOK_SECRET="change-me")
    (result,) = await diagnose()
    assert (result.check, result.status) == ("settings", "fail")
    assert "reconcile_timezone" in result.detail
    assert "change-me" not in result.detail


async def test_secrets_check(env: Env) -> None:
    ctx = DoctorContext(env(SYNCLINE_API_TOKEN="change-me"))
    outcome = await check_secrets(ctx)
    assert not outcome.ok and "SYNCLINE_API_TOKEN" in outcome.detail
    assert "SYNCLINE_WEBHOOK_SECRET" not in outcome.detail

    ctx = DoctorContext(env(SYNCLINE_WEBHOOK_SECRET_PREVIOUS="change-me"))
    assert "SYNCLINE_WEBHOOK_SECRET_PREVIOUS" in (await check_secrets(ctx)).detail
    ctx = DoctorContext(env(SYNCLINE_WEBHOOK_SECRET_PREVIOUS="an-old-real-secret"))
    outcome = await check_secrets(ctx)
    assert outcome.ok and "rotating" in outcome.detail


# -- credentials: one check per auth method -------------------------------------------------


async def test_credentials_per_auth_method(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = DoctorContext(env(SYNCLINE_CRM_CLIENT_ID="change-me"))
    outcome = await credentials.check_crm_credentials(ctx)
    assert not outcome.ok and outcome.detail.startswith("SYNCLINE_CRM_CLIENT_ID not set")

    ctx = DoctorContext(env(SYNCLINE_ERP_KIND="tryton", SYNCLINE_ERP_CLIENT_SECRET="change-me"))
    outcome = await credentials.check_erp_credentials(ctx)
    assert not outcome.ok and "application key" in (outcome.fix or "")

    # An auth method added to the connector before its check: noted, never a failure.
    monkeypatch.setattr(credentials, "crm_auth_method", lambda settings: "jwt_bearer")
    outcome = await credentials.check_crm_credentials(DoctorContext(env()))
    assert outcome.ok and outcome.detail.startswith("jwt_bearer: no check of its own yet")


# -- database -----------------------------------------------------------------------------


async def test_database_states(env: Env, tmp_path: Path) -> None:
    missing = tmp_path / "nothing.db"
    outcome = await database.check_database(
        DoctorContext(env(SYNCLINE_DATABASE_URL=f"sqlite+aiosqlite:///{missing}"))
    )
    assert not outcome.ok and "no database file" in outcome.detail
    assert not missing.exists()  # looking did not create it

    memory = env(SYNCLINE_DATABASE_URL="sqlite+aiosqlite:///:memory:")
    assert "in memory" in (await database.check_database(DoctorContext(memory))).detail

    path = tmp_path / "syncline.db"
    store = Store.from_url(f"sqlite+aiosqlite:///{path}")
    await store.migrate()
    await store.close()
    ctx = DoctorContext(env(SYNCLINE_DATABASE_URL=f"sqlite+aiosqlite:///{path}"))
    assert (await database.check_database(ctx)).ok

    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    outcome = await database.check_database(ctx)
    assert not outcome.ok and "a newer Syncline migrated it" in outcome.detail


# -- clock --------------------------------------------------------------------------------


def test_the_servers_date_is_the_first_one() -> None:
    response = httpx.Response(
        200,
        headers=[
            ("Date", "Sun, 06 Dec 2026 02:33:14 GMT"),
            ("Date", "Sun, 06 Dec 2026 02:40:00 GMT"),
        ],
    )
    assert clock._server_time(response) == datetime(2026, 12, 6, 2, 33, 14, tzinfo=UTC).timestamp()
    assert clock._server_time(httpx.Response(200)) is None


@pytest.mark.parametrize(
    ("skew", "ok", "words"),
    [
        (0.4, True, "within 2 s"),
        (-30.0, True, "30 s behind"),
        (61.0, False, "61 s ahead of"),
        (None, True, "no Date header"),
    ],
)
async def test_clock_skew_limit(
    env: Env, monkeypatch: pytest.MonkeyPatch, skew: float | None, ok: bool, words: str
) -> None:
    async def measured(url: str) -> float | None:
        return skew

    monkeypatch.setattr(clock, "measure_skew", measured)
    outcome = await clock.check_erp_clock(DoctorContext(env()))
    assert outcome.ok is ok and words in outcome.detail


# -- NetSuite: the metadata catalog, and concurrency ------------------------------------------


async def test_netsuite_sublist_lines_behind_a_reference_are_followed() -> None:
    line = {"properties": {"custcol_term_months": {"type": "integer", "x-ns-custom-field": True}}}
    schema = {
        "properties": {
            "item": {
                "properties": {"items": {"type": "array", "items": {"$ref": "/x/salesOrder-item"}}}
            }
        }
    }
    fetched: list[str] = []

    async def fetch(record: str) -> dict[str, Any]:
        fetched.append(record)
        return line

    field = await erp_netsuite._field(schema, "item[].custcol_term_months", fetch)
    assert field == {"type": "integer", "x-ns-custom-field": True}
    assert fetched == ["salesOrder-item"]
    assert await erp_netsuite._field(schema, "item[].nope", fetch) is None


def test_netsuite_record_problems() -> None:
    needs = erp_netsuite.RECORDS["customer"]
    found: dict[str, dict[str, Any] | None] = {n.path: {"type": sorted(n.types)[0]} for n in needs}
    found["companyName"] = None
    found["currency"] = {"type": "string"}
    assert erp_netsuite.record_problems(needs, found) == [
        "missing: companyName",
        "currency is string, needs object",
        "custentity_tax_id is not a custom field",
    ]


@pytest.fixture
async def netsuite(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, NetSuiteClient]]:
    app = build_app(make_config(tmp_path / "ns.db"))
    client = await netsuite_client("http://ns.test", transport=httpx.ASGITransport(app=app))
    yield app, client
    await client.aclose()
    app.state.sandbox.close()


async def test_netsuite_concurrency_over_the_account_limit(
    netsuite: tuple[FastAPI, NetSuiteClient],
) -> None:
    app, client = netsuite
    app.state.sandbox.limiter.limit = 3
    outcome = await erp_netsuite.check_concurrency(client, 5)
    assert not outcome.ok and "SSS_REQUEST_LIMIT_EXCEEDED" in outcome.detail
    assert outcome.fix and "to 3 or less" in outcome.fix
    assert (await erp_netsuite.check_concurrency(client, 3)).ok
    assert (await erp_netsuite.check_records(client)).ok


# -- the report ---------------------------------------------------------------------------


def _results() -> list[CheckResult]:
    def result(check: str, status: str, required: bool, fix: str | None) -> CheckResult:
        return CheckResult(
            check=check,
            ok=status == "pass",
            required=required,
            status=status,  # type: ignore[arg-type]
            detail=f"{check} detail",
            fix=fix,
            seconds=0.1,
        )

    return [
        result("secrets", "pass", True, None),
        result("temporal.schedule", "warn", False, "start the worker"),
        result("crm.login", "fail", True, "check the secret"),
        result("crm.deal_fields", "skip", True, "not shown"),
    ]


def test_text_report() -> None:
    text = render_text(_results())
    assert text.splitlines() == [
        "✓ secrets            secrets detail",
        "! temporal.schedule  temporal.schedule detail (warning)",
        "                     fix: start the worker",
        "✗ crm.login          crm.login detail",
        "                     fix: check the secret",
        "- crm.deal_fields    crm.deal_fields detail",
        "1 passed, 1 failed, 1 warning, 1 not checked: not ready for a first deal",
    ]
    assert "\033[" not in text
    assert "\033[31m✗\033[0m" in render_text(_results(), colour=True)


def test_json_report_keys_are_the_documented_ones() -> None:
    rows = json.loads(render_json(_results()))
    assert list(rows[0]) == ["check", "ok", "required", "status", "detail", "fix", "seconds"]
    assert [r["status"] for r in rows] == ["pass", "warn", "fail", "skip"]


def test_every_check_has_a_stable_unique_name() -> None:
    names = [c.name for c in CHECKS]
    assert len(names) == len(set(names))
    assert {c.name for c in CHECKS if not c.required} == {
        "temporal.schedule",
        "crm.mirror_fields",
        "crm.change_stream",
        "erp.concurrency",
    }
