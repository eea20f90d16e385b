"""Bad input, kind by kind, against the running stack: each gets a clear 4xx with a
reason, is stored as rejected with its raw body, and nothing crashes: a good deal still
goes through afterwards. Input that is well-formed but cannot become an order (a
negative price, ten thousand lines) parks the deal with a reason; Unicode goes through.

The table of kinds and answers is written to the test log: the README quotes it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest

from tests.deals import add_crm_product, open_deal
from tests.e2e.conftest import RECONCILE_SLA_SECONDS, Stack

pytestmark = pytest.mark.e2e

OPPORTUNITY = "006000000000042AAA"


def _callout(**extra: object) -> bytes:
    body = {"event": "opportunity.closed_won", "opportunityId": OPPORTUNITY, **extra}
    return json.dumps(body).encode()


@dataclass
class Case:
    kind: str
    body: bytes
    headers: Callable[[Stack, bytes], dict[str, str | bytes]]
    code: int
    says: str
    """Words the answer's detail must contain: the reason, not just a status code."""


def _signed(stack: Stack, body: bytes) -> dict[str, str | bytes]:
    return {**stack.sign(body)}


def _signed_at(offset: int) -> Callable[[Stack, bytes], dict[str, str | bytes]]:
    return lambda stack, body: {**stack.sign(body, timestamp=int(time.time()) + offset)}


def _with(**changes: str | bytes | None) -> Callable[[Stack, bytes], dict[str, str | bytes]]:
    """Signed headers with some replaced or left out. A value in bytes goes out as those
    bytes: httpx refuses a non-ASCII ``str``, and a hostile sender is not so polite."""

    def headers(stack: Stack, body: bytes) -> dict[str, str | bytes]:
        signed: dict[str, str | bytes] = {**stack.sign(body)}
        for name, value in changes.items():
            header = name.replace("_", "-")
            if value is None:
                signed.pop(header, None)
            else:
                signed[header] = value
        return signed

    return headers


CASES = [
    Case("missing signature", _callout(), _with(X_Syncline_Signature=None), 401, "missing"),
    Case(
        "wrong signature",
        _callout(),
        _with(X_Syncline_Signature="sha256=" + "0" * 64),
        401,
        "does not match",
    ),
    Case("stale timestamp (10 min old)", _callout(), _signed_at(-600), 401, "window"),
    Case("future timestamp (10 min ahead)", _callout(), _signed_at(600), 401, "window"),
    Case(
        "timestamp not a number", _callout(), _with(X_Syncline_Timestamp="yesterday"), 401, "unix"
    ),
    Case(
        "timestamp in non-ASCII digits (Arabic-Indic)",
        _callout(),
        _with(X_Syncline_Timestamp="".join(chr(0x0660 + int(d)) for d in "1700000000").encode()),
        401,
        "ASCII digits",
    ),
    Case(
        "signature not ASCII (UTF-8 bytes)",
        _callout(),
        _with(X_Syncline_Signature=("sha256=" + "é" * 64).encode()),
        401,
        "must be ASCII",
    ),
    Case(
        "signature over 512 bytes",
        _callout(),
        _with(X_Syncline_Signature="sha256=" + "0" * 600),
        401,
        "longer than 512 bytes",
    ),
    Case("malformed JSON", b'{"event": "opportunity.closed_won", "opp', _signed, 400, "JSON"),
    Case("wrong content type", _callout(), _with(Content_Type="text/plain"), 415, "not JSON"),
    Case(
        "form-encoded body",
        b"event=opportunity.closed_won",
        _with(Content_Type="application/x-www-form-urlencoded"),
        415,
        "not JSON",
    ),
    Case("body over 1 MiB", _callout(padding="x" * (1024 * 1024)), _signed, 413, "1 MiB"),
    Case("unknown event type", _callout(event="opportunity.deleted"), _signed, 422, "event"),
    Case(
        "missing field",
        json.dumps({"event": "opportunity.closed_won"}).encode(),
        _signed,
        422,
        "opportunityId",
    ),
    Case("JSON that is not an object", b'["opportunity.closed_won"]', _signed, 422, "object"),
    Case("negative amount", _callout(amount="-100.00"), _signed, 422, "greater than"),
    Case("non-numeric amount", _callout(amount="12,50 EUR"), _signed, 422, "decimal"),
    Case("amount NaN", _callout(amount="NaN"), _signed, 422, "finite"),
    Case("unknown currency", _callout(currencyIsoCode="ZZZ"), _signed, 422, "ISO 4217"),
    Case(
        "Unicode where an id belongs",
        json.dumps(
            {
                "event": "opportunity.closed_won",
                "opportunityId": "006\u03a9\u03bc\u03ad\u03b3\u03b1" + "\u2603" * 8,
            }
        ).encode(),
        _signed,
        422,
        "pattern",
    ),
]


async def _stored(stack: Stack, delivery_id: str) -> dict[str, object]:
    answer = await stack.api.get(f"/api/deliveries/{delivery_id}")
    assert answer.status_code == 200, answer.text
    stored: dict[str, object] = answer.json()
    return stored


async def test_each_kind_of_bad_webhook_gets_a_reason_and_is_stored(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    answered: list[str] = []
    for case in CASES:
        answer = await stack.post_webhook(case.body, case.headers(stack, case.body))
        assert answer.status_code == case.code, (case.kind, answer.status_code, answer.text)
        problem = answer.json()
        assert case.says in json.dumps(problem["detail"]), (case.kind, problem)
        stored = await _stored(stack, problem["delivery_id"])
        assert stored["status"] == "rejected", (case.kind, stored)
        assert stored["status_reason"], case.kind
        kept = case.body[: 1024 * 1024].decode()
        assert stored["raw_body"] == kept, case.kind
        answered.append(f"| {case.kind} | {case.code} | {stored['status_reason']} |")

    # A verbatim replay of a delivery that was processed: refused, and says which.
    body = _callout()
    headers = stack.sign(body)
    first = await stack.post_webhook(body, headers)
    assert first.status_code == 202, first.text
    replay = await stack.post_webhook(body, headers)
    assert replay.status_code == 409, replay.text
    assert first.json()["delivery_id"] in replay.json()["detail"]
    stored = await _stored(stack, replay.json()["delivery_id"])
    assert stored["status"] == "rejected"
    answered.append(f"| replayed signature | 409 | {stored['status_reason']} |")

    # An operator token no client should send, through the real server's header parser:
    # refused with the reason, not a 500.
    for token, says in [("tökén".encode(), "must be ASCII"), (b"x" * 8193, "8192 bytes")]:
        refused = await stack.api.get(
            "/api/exceptions", headers={"Authorization": b"Bearer " + token}
        )
        assert refused.status_code == 401, refused.text
        assert says in refused.json()["detail"], refused.text

    # Nothing crashed: the API is healthy and a good deal still becomes one order.
    assert (await stack.api.get("/healthz")).status_code == 200
    opportunity_id = await stack.open_deal(name="After the bad input")
    await stack.close_won(opportunity_id)
    await stack.wait_for_status(opportunity_id, "order_accepted")
    assert len(await stack.erp_orders_for(opportunity_id)) == 1
    with capsys.disabled():
        sys.stderr.write("\nbad input:\n" + "\n".join(answered) + "\n")


async def test_a_negative_total_is_refused_at_the_door_and_reconciliation_parks_it(
    stack: Stack,
) -> None:
    opportunity_id = await open_deal(
        stack.crm, stack.entries, ["SL-ONBOARDING"], name="Negative", unit_price="-5000.00"
    )
    await stack.close_won(opportunity_id)
    # The CRM's callout says amount -10000.00: refused, and the CRM is told why.
    async with httpx.AsyncClient(base_url=stack.dev.crm_url) as crm_admin:
        for _ in range(50):
            found = await crm_admin.get(
                "/admin/webhook-deliveries", params={"opportunityId": opportunity_id}
            )
            deliveries = found.json()["deliveries"]
            if deliveries and deliveries[0]["status"] != "pending":
                break
            await asyncio.sleep(0.2)
    assert [d["last_status_code"] for d in deliveries] == [422]
    assert (await stack.api.get(f"/api/deals/{opportunity_id}")).status_code == 404

    # Nothing is lost: the won deal without an order is reconciliation's to replay, and
    # the deal, reading the CRM, parks for a person with the reason.
    await asyncio.sleep(RECONCILE_SLA_SECONDS)
    started = await stack.api.post(
        "/api/reconciliations", json={"domains": ["orders"], "keys": [opportunity_id]}
    )
    assert started.status_code == 202, started.text
    parked = await stack.wait_for_status(opportunity_id, "needs_attention", timeout=60)
    assert "negative price" in parked["detail"]
    [exception] = parked["exceptions"]
    assert exception["reason"] == "invalid_opportunity"
    assert await stack.erp_orders_for(opportunity_id) == []


async def test_a_negative_line_in_a_positive_deal_parks_the_deal(stack: Stack) -> None:
    opportunity_id = await stack.open_deal(name="Discount as a line")
    await stack.crm.create(
        "OpportunityLineItem",
        {
            "OpportunityId": opportunity_id,
            "PricebookEntryId": stack.entries["SL-ONBOARDING"],
            "Quantity": 1,
            "UnitPrice": "-500.00",
        },
    )
    await stack.close_won(opportunity_id)
    parked = await stack.wait_for_status(opportunity_id, "needs_attention")
    assert "negative price" in parked["detail"]
    assert await stack.erp_orders_for(opportunity_id) == []


async def test_ten_thousand_lines_park_the_deal_instead_of_bloating_the_workflow(
    stack: Stack,
) -> None:
    opportunity_id = await stack.open_deal(name="Ten thousand lines")
    entry = stack.entries["SL-SEAT-VIEWER"]
    await stack.crm.create_many(
        "OpportunityLineItem",
        [
            {"OpportunityId": opportunity_id, "PricebookEntryId": entry, "Quantity": 1}
            for _ in range(9_999)
        ],
    )
    await stack.close_won(opportunity_id)
    parked = await stack.wait_for_status(opportunity_id, "needs_attention", timeout=60)
    assert "10,000 line items" in parked["detail"]
    assert await stack.erp_orders_for(opportunity_id) == []


async def test_unicode_everywhere_goes_through_intact(stack: Stack) -> None:
    sku = "SL-ÜNÏCÖDÉ-✓"
    await add_crm_product(stack.crm, stack.entries, sku, "42.00")
    await stack.erp.add_item(sku, "Ünïcödé add-on ✓", Decimal("42.00"))
    name = "Société Générale — 株式会社テスト 🚀 «deal»"
    opportunity_id = await open_deal(stack.crm, stack.entries, [sku], name=name)
    await stack.crm.update(
        "Account",
        (await stack.crm.get("Opportunity", opportunity_id))["AccountId"],
        {"BillingCity": "Zürich", "BillingStreet": "Bahnhofstraße 1"},
    )
    await stack.close_won(opportunity_id)
    deal = await stack.wait_for_status(opportunity_id, "order_accepted")
    [order] = await stack.erp_orders_for(opportunity_id)
    assert deal["erp_order_id"] == order.id
    [accepted] = [e for e in deal["events"] if e["event_type"] == "order.accepted"]
    assert accepted["payload"]["lines"][0]["sku"] == sku
