"""The shortcut on the driver's rows finds exactly what building every record finds.

The reference joins the rows by key in a plain dict, builds every opportunity, order
and ledger booking, and asks ``classify_order`` about every key, as the comparison did
before it learnt to skip agreeing rows. The generated rows differ in every way
``classify_order`` looks at, and also in ways it must not see: the scale of a decimal,
the offset a timestamp is written with.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from operator import itemgetter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from models.reconciliation import DriftClass, Finding
from reconciliation.context import Policy
from reconciliation.merge import merge_join, pages_of
from reconciliation.order_rows import (
    LedgerRow,
    classify_rows,
    opportunity_from_row,
    order_from_row,
)
from reconciliation.orders import classify_order

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = Policy(now=NOW, sla=timedelta(minutes=15), renewal_lead=timedelta(days=90))
VALUES = (Decimal("100"), Decimal("100.01"), Decimal("0"))
MOMENTS = (NOW - timedelta(days=2), NOW - timedelta(minutes=5))


def written(value: Decimal) -> st.SearchStrategy[str]:
    """The same amount as different texts: ``100``, ``100.0``, ``100.00``, ``1E+2``..."""
    return st.sampled_from(
        [str(value), f"{value:.1f}", f"{value:.2f}", f"{value:.3f}", f"{value:E}", f" {value} "]
    )


def amount() -> st.SearchStrategy[str]:
    return st.sampled_from(VALUES).flatmap(written)


def moment() -> st.SearchStrategy[str]:
    """An instant as text in UTC (``Z`` or ``+00:00``) or with another offset."""

    def texts(at: datetime) -> st.SearchStrategy[str]:
        return st.sampled_from(
            [
                at.isoformat().replace("+00:00", "Z"),
                at.isoformat(),
                at.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
                at.astimezone(timezone(timedelta(hours=-8))).isoformat(),
            ]
        )

    return st.sampled_from(MOMENTS).flatmap(texts)


CURRENCIES = ("USD", "EUR")
CHANGES = (
    "no opportunity",
    "no order",
    "second order",
    "opportunity amount",
    "no opportunity amount",
    "order total",
    "booked total",
    "opportunity currency",
    "order currency",
    "booked currency",
    "lower-case currency",
    "cancelled",
    "billed",
    "booked cancelled",
    "held",
    "rejected",
    "deal waits",
    "parked",
    "not booked",
    "booked without total",
    "names its order",
    "names another order",
)
"""What may change about a key whose three systems agreed; most keys keep none."""

CRM_MODEL_ONLY = ("001A", "Acme renewal", "Closed Won", None)
"""Account, name, stage and the status written back: read by no comparison."""


def erp_model_only(status: str) -> tuple[str, str, str]:
    """Customer, the ERP's name for the status and the date: read by no comparison."""
    return ("C1", status.title(), "2026-11-20")


Data = tuple[
    list[tuple[Any, ...]],
    list[tuple[Any, ...]],
    dict[str, LedgerRow],
    frozenset[str],
    frozenset[str],
]


@st.composite
def datasets(draw: st.DrawFn) -> Data:
    """Keys that agree, each written in its own way, and some changed in a way or two."""
    keys = sorted(
        draw(st.sets(st.sampled_from([f"006{n:03d}" for n in range(60)]), min_size=8, max_size=30))
    )
    crm: list[tuple[Any, ...]] = []
    erp: list[tuple[Any, ...]] = []
    ledger: dict[str, LedgerRow] = {}
    parked: set[str] = set()
    for key in keys:
        changes = (
            set(draw(st.lists(st.sampled_from(CHANGES), max_size=2)))
            if draw(st.booleans())
            else set()
        )
        value = draw(st.sampled_from(VALUES))
        currency = draw(st.sampled_from(CURRENCIES))
        other = {"USD": "EUR", "EUR": "USD"}[currency]
        bump = Decimal("0.01")

        def text(amount: Decimal) -> str:
            return draw(written(amount))

        order_id = key + "71"
        if "no opportunity" not in changes:
            names = {"names its order": order_id, "names another order": key + "99"}
            crm.append(
                (
                    key,
                    None
                    if "no opportunity amount" in changes
                    else text(value + bump if "opportunity amount" in changes else value),
                    other if "opportunity currency" in changes else currency,
                    "2026-11-20",
                    draw(moment()),
                    next((names[c] for c in changes if c in names), None),
                    *CRM_MODEL_ONLY[:3],
                    "Pending Approval" if "deal waits" in changes else CRM_MODEL_ONLY[3],
                )
            )
        if "parked" in changes:
            parked.add(key)
        if "no order" in changes:
            continue
        statuses = {
            "cancelled": "cancelled",
            "billed": "billed",
            "held": "pending_approval",
            "rejected": "rejected",
        }
        status = next((statuses[c] for c in sorted(changes) if c in statuses), "open")
        order_currency = other if "order currency" in changes else currency
        if "lower-case currency" in changes:
            order_currency = order_currency.lower()
        total = value + bump if "order total" in changes else value
        erp.append(
            (
                key,
                order_id,
                f"SO{order_id}",
                text(total),
                order_currency,
                status,
                draw(moment()),
                *erp_model_only(status),
            )
        )
        if "second order" in changes:
            erp.append(
                (
                    key,
                    key + "72",
                    f"SO{key}72",
                    text(value),
                    currency,
                    "open",
                    draw(moment()),
                    *erp_model_only("open"),
                )
            )
        if "not booked" not in changes:
            ledger[order_id] = LedgerRow(
                None
                if "booked without total" in changes
                else text(total + bump if "booked total" in changes else total),
                other if "booked currency" in changes else order_currency,
                "booked cancelled" in changes,
            )
    pending = frozenset(draw(st.sets(st.sampled_from(keys)))) if keys else frozenset()
    return crm, erp, ledger, pending, frozenset(parked)


def reference(
    crm: Sequence[tuple[Any, ...]],
    erp: Sequence[tuple[Any, ...]],
    ledger: dict[str, LedgerRow],
    pending: frozenset[str],
    parked: frozenset[str] = frozenset(),
) -> list[Finding]:
    """Every record built, every key classified."""
    opportunities = {row[0]: opportunity_from_row(row) for row in crm}
    orders: dict[str, list[Any]] = {}
    for row in erp:
        orders.setdefault(row[0], []).append(order_from_row(row))
    booked = {order_id: row.order() for order_id, row in ledger.items()}
    findings = [
        classify_order(
            key,
            opportunities.get(key),
            orders.get(key, []),
            booked,
            POLICY,
            repair_pending=key in pending,
            parked=key in parked,
        )
        for key in sorted(opportunities.keys() | orders.keys())
    ]
    return [f for f in findings if f is not None]


async def shortcut(
    crm: list[tuple[Any, ...]],
    erp: list[tuple[Any, ...]],
    ledger: dict[str, LedgerRow],
    pending: frozenset[str],
    pages: tuple[int, int],
    parked: frozenset[str] = frozenset(),
) -> list[Finding]:
    findings: list[Finding] = []
    async for batch in merge_join(
        pages_of(crm, pages[0]),
        pages_of(erp, pages[1]),
        left_key=itemgetter(0),
        right_key=itemgetter(0),
    ):
        findings += classify_rows(batch, ledger, POLICY, pending, parked)
    return findings


@settings(max_examples=400, deadline=None)
@given(datasets(), st.tuples(st.integers(1, 7), st.integers(1, 7)))
async def test_the_shortcut_finds_what_building_every_record_finds(
    data: Data,
    pages: tuple[int, int],
) -> None:
    crm, erp, ledger, pending, parked = data
    assert await shortcut(crm, erp, ledger, pending, pages, parked) == reference(
        crm, erp, ledger, pending, parked
    )


async def test_scale_and_offset_are_no_difference_but_a_cent_is() -> None:
    for crm_amount, erp_total, modified, expected in [
        ("100.0", "100.00", "2026-11-21T10:00:00+01:00", None),
        ("100", "1E+2", "2026-11-21T09:00:00+00:00", None),
        ("100.00", "100.01", "2026-11-21T09:00:00Z", DriftClass.AMOUNT_MISMATCH),
    ]:
        crm = [
            ("006A", crm_amount, "USD", "2026-11-20", "2026-11-21T09:00:00Z", None, *CRM_MODEL_ONLY)
        ]
        erp = [("006A", "71", "SO71", erp_total, "USD", "open", modified, *erp_model_only("open"))]
        ledger = {"71": LedgerRow(erp_total, "USD", False)}
        found = await shortcut(crm, erp, ledger, frozenset(), (1, 1))
        assert found == reference(crm, erp, ledger, frozenset())
        assert [f.drift for f in found] == ([] if expected is None else [expected])
