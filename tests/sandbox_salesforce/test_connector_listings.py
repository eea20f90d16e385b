"""The reconciliation listings against the sandbox: won opportunities in keyset pages by
ordinal Id, and accounts by the ERP customer they mirror."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from connectors.salesforce import SalesforceClient
from connectors.salesforce import client as salesforce_client
from models.crm import (
    AccountLegalMirror,
    Opportunity,
    OpportunityBillingUpdate,
    OpportunityOrderUpdate,
)
from models.types import Money
from sandbox.salesforce import ids as sandbox_ids
from sandbox.salesforce import org as sandbox_org

from .helpers import SandboxApi

# The 8 characters that end a sandbox opportunity id, created in this order. Ordinal
# order (digits, upper, lower case) differs from creation order and from a case-blind
# order: '0000000Z' < '0000000a' only when upper case sorts first.
BODIES = ("0000000a", "0000000Z", "0000000b", "0000000A", "00000009", "0000000z")


def _opportunity_id(body: str) -> str:
    id15 = f"0065g00{body}"
    return id15 + sandbox_ids.checksum_suffix(id15)


@pytest.fixture
def chosen_ids(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sandbox issues the ids of ``BODIES`` to opportunities, in turn."""
    queue = [_opportunity_id(body) for body in BODIES]
    issue: Callable[[str], str] = sandbox_ids.new_id

    def new_id(prefix: str) -> str:
        return queue.pop(0) if prefix == "006" and queue else issue(prefix)

    monkeypatch.setattr(sandbox_org, "new_id", new_id)
    return [_opportunity_id(body) for body in BODIES]


async def _opportunity(api: SandboxApi, account_id: str, stage: str, close: str) -> str:
    return await api.create(
        "Opportunity",
        Name=f"Deal {stage} {close}",
        AccountId=account_id,
        StageName=stage,
        CloseDate=close,
        Amount="1000.10",
        CurrencyIsoCode="EUR",
    )


@pytest.fixture
async def won(api: SandboxApi, chosen_ids: list[str]) -> list[str]:
    """Four won opportunities (one closed in 2025) among a lost and an open one; the
    won ones' ids in creation order."""
    account_id = await api.create("Account", Name="Acme")
    stages = [
        ("Closed Won", "2026-03-01"),
        ("Closed Won", "2026-01-01"),
        ("Closed Lost", "2026-02-01"),
        ("Closed Won", "2025-12-31"),
        ("Prospecting", "2026-05-01"),
        ("Closed Won", "2026-06-30"),
    ]
    created = [await _opportunity(api, account_id, stage, close) for stage, close in stages]
    assert created == chosen_ids
    return [i for i, (stage, _) in zip(created, stages, strict=True) if stage == "Closed Won"]


async def _all_won(
    client: SalesforceClient, limit: int, closed_since: date | None = None
) -> list[Opportunity]:
    """Every page, each starting after the last Id of the one before."""
    seen: list[Opportunity] = []
    after: str | None = None
    for _ in range(len(BODIES) + 2):  # a client stuck on one page fails, not hangs
        page = await client.won_opportunities(after, limit, closed_since)
        assert len(page) <= limit
        assert all(after is None or o.id > after for o in page), "after is exclusive"
        seen += page
        if len(page) < limit:
            return seen
        after = page[-1].id
    raise AssertionError(f"no end after {len(seen)} opportunities")


@pytest.mark.parametrize("limit", [1, 2, 3, 50])
async def test_won_opportunities_page_through_in_ordinal_id_order(
    client: SalesforceClient, won: list[str], limit: int
) -> None:
    ordinal = sorted(won)
    # The test means something only if case-blind order would differ.
    assert ordinal != sorted(won, key=str.casefold)
    assert [o.id for o in await _all_won(client, limit)] == ordinal


async def test_after_is_exclusive_in_python_order(client: SalesforceClient, won: list[str]) -> None:
    ordinal = sorted(won)
    page = await client.won_opportunities(ordinal[1], 10)
    assert [o.id for o in page] == ordinal[2:]
    assert await client.won_opportunities(ordinal[-1], 10) == []
    # Keys below an id, as a caller looking one key up sends: the page starts at it.
    for below in (ordinal[1][:15], ordinal[1][:-1] + chr(ord(ordinal[1][-1]) - 1)):
        assert [o.id for o in await client.won_opportunities(below, 10)] == ordinal[1:]


async def test_closed_since_keeps_deals_closed_on_or_after_it(
    client: SalesforceClient, won: list[str]
) -> None:
    found = await _all_won(client, 2, closed_since=date(2026, 1, 1))
    assert [o.id for o in found] == sorted(set(won) - {won[2]})
    assert min(o.close_date for o in found if o.close_date) == date(2026, 1, 1)


async def test_won_opportunities_are_mapped_without_lines(
    api: SandboxApi, client: SalesforceClient
) -> None:
    account_id, opportunity_id = await api.deal(("SKU-1", "2", "10.05"), stage="Closed Won")
    await client.write_order_status(
        opportunity_id,
        OpportunityOrderUpdate(
            erp_order_id="SO-9",
            order_number="SO1009",
            order_status="open",
            synced_at=datetime(2026, 11, 23, tzinfo=UTC),
        ),
    )
    [listed] = await client.won_opportunities(None, 10)
    full = await client.get_opportunity(opportunity_id)
    assert listed == full.model_copy(update={"lines": []})
    assert full.lines  # the listing left them out, the deal has them
    assert (listed.account_id, listed.erp_order_id) == (account_id, "SO-9")
    assert listed.amount == Money(amount=Decimal("20.10"), currency="USD")
    assert listed.is_closed_won and listed.last_modified is not None


async def test_accounts_mirroring_in_chunks_with_the_legal_name(
    api: SandboxApi, client: SalesforceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(salesforce_client, "IN_CHUNK", 2)
    mirrored: dict[str, str] = {}
    for n in range(5):
        account_id = await api.create("Account", Name=f"Sales name {n}")
        mirror = AccountLegalMirror(
            erp_customer_id=f"C-{n}",
            legal_name=f"Legal Name {n} GmbH",
            synced_at=datetime(2026, 11, 23, tzinfo=UTC),
        )
        await client.write_account_mirror(account_id, mirror)
        mirrored[account_id] = f"C-{n}"
    await api.create("Account", Name="Not mirrored")

    found = await client.accounts_mirroring(["C-0", "C-2", "C-3", "C-4", "C-404", "C-2"])
    assert [a.id for a in found] == sorted(i for i, c in mirrored.items() if c != "C-1")
    assert {a.erp_customer_id: a.legal_name for a in found} == {
        f"C-{n}": f"Legal Name {n} GmbH" for n in (0, 2, 3, 4)
    }
    assert {a.name for a in found} == {f"Sales name {n}" for n in (0, 2, 3, 4)}
    assert await client.accounts_mirroring([]) == []
    account = await client.get_account(found[0].id)
    assert account.legal_name == found[0].legal_name


async def test_the_sandbox_runs_the_keyset_query_shape(api: SandboxApi, won: list[str]) -> None:
    ordinal = sorted(won)
    soql = (
        "SELECT Id FROM Opportunity WHERE IsWon = true AND IsClosed = true "
        f"AND Id > '{ordinal[0]}' AND CloseDate >= 2026-01-01 ORDER BY Id LIMIT 2"
    )
    assert [r["Id"] for r in await api.records(soql)] == [i for i in ordinal[1:] if i != won[2]][:2]


async def test_billing_mirrors_read_what_the_deal_wrote_and_nothing_for_unknown_ids(
    api: SandboxApi, client: SalesforceClient
) -> None:
    account = await api.create("Account", Name="Mirrored")
    written = await _opportunity(api, account, "Closed Won", "2026-11-20")
    unwritten = await _opportunity(api, account, "Closed Won", "2026-11-21")
    await client.write_billing_status(
        written,
        OpportunityBillingUpdate(
            billing_status="partially_paid",
            invoiced_amount=Decimal("2401.00"),
            paid_amount=Decimal("500.00"),
            balance=Decimal("1901.00"),
            last_invoice_date=date(2026, 11, 22),
            synced_at=datetime(2026, 11, 22, 9, tzinfo=UTC),
        ),
    )
    unknown = _opportunity_id("0000zzzz")
    mirrors = await client.billing_mirrors([written, unwritten, unknown, written])
    assert set(mirrors) == {written, unwritten}
    shown = mirrors[written]
    assert (shown.billing_status, shown.invoiced_amount, shown.paid_amount, shown.balance) == (
        "partially_paid",
        Decimal("2401.00"),
        Decimal("500.00"),
        Decimal("1901.00"),
    )
    nothing = mirrors[unwritten]
    assert (nothing.invoiced_amount, nothing.paid_amount, nothing.balance) == (None, None, None)
