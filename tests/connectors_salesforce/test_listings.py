"""The reconciliation listings on the wire: won opportunities by keyset on Id, and
accounts by the ERP customers they mirror, in chunks."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connectors.salesforce import SalesforceClient
from connectors.salesforce.mapping import to_account
from connectors.salesforce.wire import id_suffix
from models.crm import Account, Opportunity
from models.types import Money

from .fake import DATA, FakeSalesforce

# Mixed-case ids in ordinal order: digits, then upper case, then lower case.
IDS = sorted(
    f"0065g00000000{tail}" + id_suffix(f"0065g00000000{tail}")
    for tail in ("0Z", "0a", "Aa", "ZZ", "a0", "zz", "b9")
)


def _soql(request: httpx.Request) -> str:
    return parse_qs(urlsplit(str(request.url)).query)["q"][0]


def _opportunity(record_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "attributes": {"type": "Opportunity"},
        "Id": record_id,
        "AccountId": "0015g00000Acct1AAA",
        "Name": f"Deal {record_id}",
        "StageName": "Closed Won",
        "IsClosed": True,
        "IsWon": True,
        "CloseDate": "2026-03-01",
        "CurrencyIsoCode": "EUR",
        "Amount": "1234567890123456.78",
        "Syncline_Order_Id__c": "SO-1",
        "LastModifiedDate": "2026-11-23T10:15:30.250+0000",
        **fields,
    }


def _after(soql: str) -> tuple[str, str] | None:
    found = re.search(r"Id (>=?) '([^']*)'", soql)
    return None if found is None else (found.group(1), found.group(2))


def _keyset_org(request: httpx.Request) -> httpx.Response:
    """Answers the won-opportunity query as Salesforce would: ``Id > '<15 chars>'``
    compared case-sensitively on the 15-char ids, ordered by Id, cut at LIMIT."""
    soql = _soql(request)
    after = _after(soql)
    limit = re.search(r"LIMIT (\d+)$", soql)
    assert limit is not None, soql

    def kept(record_id: str) -> bool:
        if after is None:
            return True
        op, bound = after
        return record_id[:15] > bound or (op == ">=" and record_id[:15] == bound)

    rows = [i for i in IDS if kept(i)][: int(limit.group(1))]
    records = [_opportunity(i) for i in rows]
    return httpx.Response(200, json={"totalSize": len(records), "done": True, "records": records})


async def test_won_opportunities_query_and_mapping(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on("GET", f"{DATA}/query", _keyset_org)
    [first, second] = await client.won_opportunities(None, 2, closed_since=date(2026, 1, 1))

    soql = _soql(fake.data_requests[-1])
    assert soql.startswith("SELECT Id, AccountId, Name, StageName, IsClosed, IsWon, CloseDate, ")
    assert "Syncline_Order_Id__c" in soql and "LastModifiedDate" in soql
    assert soql.endswith(
        "FROM Opportunity WHERE IsWon = true AND IsClosed = true "
        "AND CloseDate >= 2026-01-01 ORDER BY Id LIMIT 2"
    )
    assert "OFFSET" not in soql and "OpportunityLineItem" not in soql
    assert len(fake.data_requests) == 1  # no line items, no request per opportunity
    assert first == Opportunity(
        id=IDS[0],
        account_id="0015g00000Acct1AAA",
        name=f"Deal {IDS[0]}",
        stage="Closed Won",
        is_closed=True,
        is_won=True,
        close_date=date(2026, 3, 1),
        currency="EUR",
        amount=Money(amount=Decimal("1234567890123456.78"), currency="EUR"),
        lines=[],
        erp_order_id="SO-1",
        last_modified=datetime(2026, 11, 23, 10, 15, 30, 250000, tzinfo=UTC),
    )
    assert second.id == IDS[1]


async def test_won_opportunities_chain_pages_after_the_last_id(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on("GET", f"{DATA}/query", _keyset_org)
    seen: list[str] = []
    after: str | None = None
    for _ in range(len(IDS)):
        page = await client.won_opportunities(after, 3)
        seen += [o.id for o in page]
        if len(page) < 3:
            break
        after = page[-1].id
    assert seen == IDS
    # Upper case before lower case: a case-blind order would interleave them.
    assert seen != sorted(IDS, key=str.casefold)
    assert [_after(_soql(r)) for r in fake.data_requests] == [
        None,
        (">", IDS[2][:15]),
        (">", IDS[5][:15]),
    ]


@pytest.mark.parametrize("index", range(len(IDS)))
async def test_any_key_below_an_id_starts_the_page_at_that_id(
    fake: FakeSalesforce, client: SalesforceClient, index: int
) -> None:
    # Salesforce reads an 18-char literal's suffix as the case of its letters, so a key
    # that is not an id must not be sent as one: the page would start elsewhere.
    fake.on("GET", f"{DATA}/query", _keyset_org)
    key = IDS[index]
    for below in (key[:-1] + chr(ord(key[-1]) - 1), key[:15], key[:15] + "!"):
        assert below < key
        found = await client.won_opportunities(below, 2)
        assert [o.id for o in found] == IDS[index : index + 2], below
    after_key = await client.won_opportunities(key, 1)
    assert [o.id for o in after_key] == IDS[index + 1 : index + 2]


def test_the_id_suffix_is_salesforce_s() -> None:
    # Worked by hand: A (8) in the first five, none in the next, V (2) in the last.
    assert id_suffix("001A0000006Vm9r") == "IAC"


async def test_won_opportunities_refuse_what_cannot_page(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    for after in ("006' OR Name != '", "0065g00000000", "0065g000000 0aAAA"):
        with pytest.raises(ValueError):
            await client.won_opportunities(after, 5)
    with pytest.raises(ValueError):
        await client.won_opportunities(None, 0)
    assert fake.requests == []  # nothing reaches Salesforce


async def test_won_opportunities_follow_next_records_url_up_to_the_limit(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    more = f"{DATA}/query/01gNEXT-2"
    fake.on_json(
        "GET",
        f"{DATA}/query",
        {
            "totalSize": 3,
            "done": False,
            "nextRecordsUrl": more,
            "records": [_opportunity(IDS[0]), _opportunity(IDS[1])],
        },
    )
    fake.on_json("GET", more, {"totalSize": 3, "done": True, "records": [_opportunity(IDS[2])]})
    found = await client.won_opportunities(None, 3)
    assert [o.id for o in found] == IDS[:3]


def _account(record_id: str, customer_id: str) -> dict[str, Any]:
    return {
        "attributes": {"type": "Account"},
        "Id": record_id,
        "Name": f"Sales {customer_id}",
        "Syncline_Customer_Id__c": customer_id,
        "Syncline_Legal_Name__c": f"Legal {customer_id} GmbH",
    }


def _mirroring_org(request: httpx.Request) -> httpx.Response:
    """Accounts for every customer id in the IN list, the ids reversed so that the
    answer's order is the client's to fix."""
    listed = re.search(r"Syncline_Customer_Id__c IN \(([^)]*)\)", _soql(request))
    assert listed is not None
    customers = [c.strip("'") for c in listed.group(1).split(", ")]
    records = [_account(f"001{c.replace('-', '').zfill(15)}", c) for c in reversed(customers)]
    return httpx.Response(200, json={"totalSize": len(records), "done": True, "records": records})


async def test_accounts_mirroring_chunks_the_in_list(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    assert await client.accounts_mirroring([]) == []
    assert fake.requests == []  # nothing asked, nothing sent

    fake.on("GET", f"{DATA}/query", _mirroring_org)
    wanted = [f"C-{n}" for n in range(450)]
    found = await client.accounts_mirroring([*wanted, "C-7", ""])

    queries = [_soql(r) for r in fake.data_requests]
    assert [q.count("'C-") for q in queries] == [200, 200, 50]  # duplicates asked once
    assert all("Syncline_Legal_Name__c" in q and " FROM Account WHERE " in q for q in queries)
    assert "''" not in "".join(queries)  # an empty id would match no mirror
    assert sorted(a.erp_customer_id or "" for a in found) == sorted(wanted)
    assert [a.id for a in found] == sorted(a.id for a in found)
    account = next(a for a in found if a.erp_customer_id == "C-7")
    assert (account.name, account.legal_name) == ("Sales C-7", "Legal C-7 GmbH")


async def test_accounts_mirroring_escapes_the_ids(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on_json("GET", f"{DATA}/query", {"totalSize": 0, "done": True, "records": []})
    assert await client.accounts_mirroring(["O'Brien\\"]) == []
    assert "IN ('O\\'Brien\\\\')" in _soql(fake.data_requests[-1])


def test_an_account_saved_before_legal_name_still_decodes() -> None:
    # Workflow histories hold accounts serialised before the field existed.
    old = Account.model_validate_json('{"id": "001A", "name": "Acme", "erp_customer_id": "C-9"}')
    assert (old.legal_name, old.erp_customer_id) == (None, "C-9")
    assert to_account({"Id": "001A", "Name": "Acme"}).legal_name is None
