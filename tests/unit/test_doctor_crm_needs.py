"""The doctor's table of what Syncline needs in Salesforce stays in step with the
connector: every field it reads or writes is in the table, with the right it needs."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx

from connectors.salesforce import SalesforceClient
from connectors.salesforce.mapping import ACCOUNT_FIELDS, LINE_FIELDS, OPPORTUNITY_FIELDS
from models.crm import (
    AccountLegalMirror,
    Address,
    OpportunityBillingUpdate,
    OpportunityOrderUpdate,
    ProductMirror,
    RenewalOpportunity,
)
from models.types import Money
from workers.doctor.crm_needs import DEAL, MIRRORS, ObjectNeed, object_problems

_SOBJECT = re.compile(r"/sobjects/(\w+)(?:/([^/]+))?(?:/([^/]+))?/?$")
_SELECT = re.compile(r"SELECT (.+?) FROM (\w+)", re.IGNORECASE)


def _fields(needs: tuple[ObjectNeed, ...]) -> dict[tuple[str, str], set[str]]:
    """(object, field) -> the writes it is listed for ("read" when only read)."""
    table: dict[tuple[str, str], set[str]] = defaultdict(set)
    for need in needs:
        for field in need.fields:
            table[(need.name, field.name)] |= set(field.writes) or {"read"}
    return table


class _Recorder:
    """Answers every call plausibly and remembers what was read and written where."""

    def __init__(self) -> None:
        self.writes: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.reads: set[tuple[str, str]] = set()

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "t", "instance_url": ""})
        if path.endswith("/query"):
            soql = parse_qs(urlsplit(str(request.url)).query)["q"][0]
            match = _SELECT.search(soql)
            assert match is not None, soql
            for name in match.group(1).split(","):
                self.reads.add((match.group(2), name.strip()))
            return httpx.Response(200, json={"done": True, "records": [{"Id": "01s000000000001"}]})
        found = _SOBJECT.search(path)
        assert found is not None, path
        sobject, key, value = found.groups()
        if request.method == "GET":
            return httpx.Response(404, json=[{"errorCode": "NOT_FOUND", "message": "none"}])
        body = json.loads(request.content)
        if request.method == "POST":
            self._written(sobject, body, "create")
            return httpx.Response(201, json={"id": "a00000000000001", "success": True})
        if value is not None:  # an upsert by external id: creates or updates
            for write in ("create", "update"):
                self._written(sobject, {**body, key: value}, write)
            return httpx.Response(201, json={"id": "01t000000000001", "created": True})
        self._written(sobject, body, "update")
        return httpx.Response(204)

    def _written(self, sobject: str, body: dict[str, object], write: str) -> None:
        for name in body:
            self.writes[(sobject, name)].add(write)


async def _exercise_writes() -> _Recorder:
    recorder = _Recorder()
    crm = SalesforceClient(
        "https://x.test", "id", "secret", transport=httpx.MockTransport(recorder.handler)
    )
    now = datetime(2026, 11, 23, tzinfo=UTC)
    usd = Money(amount=Decimal("10.00"), currency="USD")
    await crm.write_order_status(
        "006A",
        OpportunityOrderUpdate(
            erp_order_id="1", order_number="SO1", order_status="Open", synced_at=now
        ),
    )
    await crm.write_billing_status(
        "006A",
        OpportunityBillingUpdate(
            billing_status="invoiced",
            invoiced_amount=Decimal(10),
            paid_amount=Decimal(0),
            balance=Decimal(10),
            last_invoice_date=date(2026, 11, 23),
            synced_at=now,
        ),
    )
    await crm.write_account_mirror(
        "001A",
        AccountLegalMirror(
            erp_customer_id="C-1",
            legal_name="Acme SAS",
            billing_address=Address(
                street="1 rue X", city="Lyon", postal_code="69001", country="FR"
            ),
            tax_id="FR1",
            synced_at=now,
        ),
    )
    await crm.upsert_product_mirror(
        ProductMirror(erp_item_id="I-1", sku="SKU-1", name="Widget", price=usd, is_active=True)
    )
    await crm.create_renewal_opportunity(
        RenewalOpportunity(
            key="renewal:S-1:2027",
            account_id="001A",
            name="Renewal",
            close_date=date(2027, 1, 31),
            amount=usd,
            renewal_of="006A",
            erp_subscription_id="S-1",
        )
    )
    await crm.aclose()
    return recorder


async def test_every_field_the_connector_writes_is_needed_with_that_right() -> None:
    recorder = await _exercise_writes()
    needed = _fields(DEAL + MIRRORS)
    assert recorder.writes, "nothing was written"
    for (sobject, field), writes in recorder.writes.items():
        assert writes <= needed.get((sobject, field), set()), (sobject, field, writes)


async def test_every_field_the_connector_reads_is_needed() -> None:
    recorder = await _exercise_writes()
    needed = _fields(DEAL + MIRRORS)
    reads = {("Opportunity", f) for f in OPPORTUNITY_FIELDS}
    reads |= {("Account", f) for f in ACCOUNT_FIELDS}
    for field in LINE_FIELDS:
        parent, _, name = field.rpartition(".")
        reads.add((parent or "OpportunityLineItem", name))
    reads |= recorder.reads
    assert not {read for read in reads if read not in needed}


def test_what_the_deal_needs_is_checked_apart_from_the_mirrors() -> None:
    deal = _fields(DEAL)
    assert "update" in deal[("Opportunity", "Syncline_Order_Status__c")]
    assert ("Account", "Syncline_Legal_Name__c") in deal  # read for the deal, written by the mirror
    assert "update" not in deal[("Account", "Syncline_Legal_Name__c")]


def test_describe_problems_are_said_in_words() -> None:
    need = DEAL[0]
    described = {
        "queryable": True,
        "updateable": False,
        "fields": [
            {"name": f.name, "type": sorted(f.types)[0], "updateable": True}
            for f in need.fields
            if f.name not in ("Syncline_Order_Status__c", "Amount", "Syncline_Balance__c")
        ]
        + [
            {"name": "Amount", "type": "string", "updateable": True},
            {"name": "Syncline_Balance__c", "type": "currency", "updateable": False},
        ],
    }
    assert object_problems(need, described) == [
        "missing or hidden from the user: Syncline_Order_Status__c",
        "the user may not update Opportunity records",
        "Amount is of type string, Syncline needs currency or double or int or percent",
        "Syncline_Balance__c is not updateable for the user",
    ]
