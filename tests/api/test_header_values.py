"""Header values no client should send: not ASCII, or far too long.

HTTP carries header values as bytes and Starlette reads them as Latin-1, so a sender can
put any byte in a signature, a timestamp or an operator token. Each is refused with a
401 that says why (a webhook delivery is stored as rejected, like any other refusal),
never a 500. httpx refuses to encode a non-ASCII ``str`` header, so the tests send the
raw bytes, as a hostile or broken client would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from store import Store
from workers.api import create_app
from workers.settings import Settings
from workers.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers

SECRET = "hook-secret"
TOKEN = "op-token"
BODY = json.dumps({"event": "opportunity.closed_won", "opportunityId": "006000000000042AAA"})


@pytest.fixture
async def api(
    workflow_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(environment="test", webhook_secret=SECRET, api_token=TOKEN)
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'syncline.db'}")
    app: FastAPI = create_app(settings, store=store, client=workflow_env.client)
    # A crash answers 500, as a real server would, rather than raising into the test.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api") as http,
    ):
        yield http
    await store.close()


def _signed_except(name: str, value: bytes) -> dict[str, str | bytes]:
    """A correctly signed delivery's headers, with one header's value replaced."""
    headers: dict[str, str | bytes] = {
        **signed_headers(SECRET, BODY.encode()),
        "Content-Type": "application/json",
    }
    headers[name] = value
    return headers


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        (
            SIGNATURE_HEADER,
            ("sha256=" + "é" * 64).encode("utf-8"),
            f"signature: {SIGNATURE_HEADER} must be ASCII (sha256=<hex digest>)",
        ),
        (
            SIGNATURE_HEADER,
            ("sha256=" + "\xff" * 64).encode("latin-1"),
            f"signature: {SIGNATURE_HEADER} must be ASCII (sha256=<hex digest>)",
        ),
        (
            SIGNATURE_HEADER,
            b"sha256=" + b"0" * 600,
            f"signature: {SIGNATURE_HEADER} is longer than 512 bytes",
        ),
        # Arabic-Indic digits, which Python's int() would read as 1700000000
        (
            TIMESTAMP_HEADER,
            "".join(chr(0x0660 + int(digit)) for digit in "1700000000").encode(),
            f"signature: {TIMESTAMP_HEADER} must be unix seconds in ASCII digits",
        ),
        # a Latin-1 no-break space, which int() would strip
        (
            TIMESTAMP_HEADER,
            b"\xa01700000000",
            f"signature: {TIMESTAMP_HEADER} must be unix seconds in ASCII digits",
        ),
    ],
    ids=["signature-utf8", "signature-latin1", "signature-oversized", "ts-digits", "ts-nbsp"],
)
async def test_a_webhook_header_not_ascii_or_oversized_is_refused_and_stored(
    api: httpx.AsyncClient, header: str, value: bytes, reason: str
) -> None:
    answer = await api.post(
        "/webhooks/salesforce", content=BODY, headers=_signed_except(header, value)
    )
    assert answer.status_code == 401, answer.text
    problem = answer.json()
    assert reason.removeprefix("signature: ") == problem["detail"]
    stored = await api.get(
        f"/api/deliveries/{problem['delivery_id']}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert stored.status_code == 200, stored.text
    delivery = stored.json()
    assert delivery["status"] == "rejected"
    assert delivery["status_reason"] == reason
    assert delivery["signature_valid"] is False
    assert delivery["raw_body"] == BODY


OPERATOR_ROUTES = ["/api/exceptions", "/api/console/summary", "/api/schemas", "/metrics"]


@pytest.mark.parametrize("route", OPERATOR_ROUTES)
@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("tökén".encode(), "must be ASCII"),
        ("tökén".encode("latin-1"), "must be ASCII"),
        (TOKEN.encode() + "é".encode(), "must be ASCII"),
        (b"x" * 8193, "longer than 8192 bytes"),
    ],
    ids=["utf8", "latin1", "token-then-utf8", "oversized"],
)
async def test_an_operator_token_not_ascii_or_oversized_is_refused(
    api: httpx.AsyncClient, route: str, token: bytes, says: str
) -> None:
    answer = await api.get(route, headers={"Authorization": b"Bearer " + token})
    assert answer.status_code == 401, answer.text
    assert says in answer.json()["detail"]
    assert answer.headers["WWW-Authenticate"] == "Bearer"


async def test_the_deprecated_shared_token_still_opens_every_route(api: httpx.AsyncClient) -> None:
    for route in OPERATOR_ROUTES:
        answer = await api.get(route, headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200, (route, answer.text)
        wrong = await api.get(route, headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401, (route, wrong.text)
        assert "neither a personal key nor a token" in wrong.json()["detail"]
