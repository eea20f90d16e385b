"""Reports: a metric's entries in a window, grouped, from the ledger alone.

Currency is always a grouping key, so amounts in different currencies are never added.
Amounts are exact decimals, written as strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from models.events import EventType
from reporting.definitions import GroupKey, MetricDefinition, definition
from reporting.facts import Entry, Fact, load_facts
from reporting.measures import MEASURES
from store import Store


class ReportRow(BaseModel):
    currency: str
    month: str | None = None
    customer: str | None = None
    sku: str | None = None
    revenue_type: str | None = None
    amount: str
    count: int
    """Ledger events that moved this amount."""


class CurrencyTotal(BaseModel):
    currency: str
    amount: str
    count: int


class Report(BaseModel):
    metric: str
    definition_version: int
    definition: str
    visible_event: EventType
    authoritative_event: EventType
    dated_by: str
    start: date
    end: date
    """Inclusive, as is ``start``; days are UTC days."""
    group_by: list[GroupKey]
    rows: list[ReportRow]
    totals: list[CurrencyTotal]
    unclassified: list[CurrencyTotal] = []
    """Amounts the metric could not classify and so did not count (ARR: lines of unknown
    revenue type or term), per currency; shown so nothing is silently dropped."""


class BadQuery(ValueError):
    """A window or grouping the metric cannot answer."""


def parse_group_by(text: str | None) -> list[GroupKey]:
    """``"month,sku"`` as keys; currency is always one, so it is implied."""
    keys: list[GroupKey] = []
    for part in (text or "").split(","):
        name = part.strip()
        if not name:
            continue
        try:
            key = GroupKey(name)
        except ValueError:
            known = ", ".join(k.value for k in GroupKey)
            raise BadQuery(f"cannot group by {name!r}; use {known}") from None
        if key not in keys and key != GroupKey.CURRENCY:
            keys.append(key)
    return keys


def _value(entry: Entry, key: GroupKey) -> str | None:
    if key == GroupKey.MONTH:
        return entry.day.strftime("%Y-%m")
    return {
        GroupKey.CUSTOMER: entry.customer,
        GroupKey.SKU: entry.sku,
        GroupKey.REVENUE_TYPE: entry.revenue_type,
    }[key]


_CENT = Decimal("0.01")


def _sum(entries: Sequence[Entry]) -> tuple[str, int]:
    amount = sum((e.amount for e in entries), Decimal(0))
    # Quantity x rate carries the quantity's decimals ("2.00" x "1250.50"); a whole
    # number of cents is shown as cents, anything finer is kept, never rounded away.
    if amount == amount.quantize(_CENT):
        amount = amount.quantize(_CENT)
    return str(amount), len({e.event_id for e in entries})


def _per_currency(entries: Iterable[Entry]) -> list[CurrencyTotal]:
    by_currency: dict[str, list[Entry]] = {}
    for entry in entries:
        by_currency.setdefault(entry.currency, []).append(entry)
    totals = []
    for currency in sorted(by_currency):
        amount, count = _sum(by_currency[currency])
        totals.append(CurrencyTotal(currency=currency, amount=amount, count=count))
    return totals


def build_report(
    metric: MetricDefinition,
    facts: Sequence[Fact],
    start: date,
    end: date,
    group_by: Sequence[GroupKey] = (),
) -> Report:
    """The report of ``metric`` over ``facts`` (from the store or the warehouse)."""
    if end < start:
        raise BadQuery("'to' is before 'from'")
    unsupported = set(group_by) - metric.group_keys
    if unsupported:
        names = ", ".join(sorted(unsupported))
        raise BadQuery(f"{metric.name} v{metric.version} is not measured by line: no {names}")
    measure = MEASURES[(metric.name, metric.version)]
    window = [e for e in measure.entries(facts, end) if start <= e.day <= end]
    counted = [e for e in window if e.counted]
    groups: dict[tuple[str | None, ...], list[Entry]] = {}
    for entry in counted:
        key = (entry.currency, *(_value(entry, k) for k in group_by))
        groups.setdefault(key, []).append(entry)
    rows = []
    for key in sorted(groups, key=lambda k: tuple(part or "" for part in k)):
        amount, count = _sum(groups[key])
        fields = dict(zip((k.value for k in group_by), key[1:], strict=True))
        rows.append(ReportRow(currency=str(key[0]), amount=amount, count=count, **fields))
    return Report(
        metric=metric.name,
        definition_version=metric.version,
        definition=metric.description,
        visible_event=metric.visible_event,
        authoritative_event=metric.authoritative_event,
        dated_by=metric.dated_by,
        start=start,
        end=end,
        group_by=list(group_by),
        rows=rows,
        totals=_per_currency(counted),
        unclassified=_per_currency(e for e in window if not e.counted),
    )


async def report_from_ledger(
    store: Store,
    name: str,
    start: date,
    end: date,
    group_by: Sequence[GroupKey] = (),
    version: int | None = None,
) -> Report:
    """``UnknownMetric`` for a metric or version never defined; ``BadQuery`` otherwise."""
    metric = definition(name, version)
    facts = await load_facts(store, MEASURES[(metric.name, metric.version)].reads)
    return build_report(metric, facts, start, end, group_by)
