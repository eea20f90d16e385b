"""What every domain pass shares: the systems, the policy, and what a batch reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from connectors.protocols import CrmClient, ErpClient
from models.events import SourceSystem
from models.reconciliation import DriftClass, Finding, Metric, MetricTotals, Remedy
from models.types import Money
from store import Store


@dataclass(frozen=True)
class Policy:
    now: datetime
    sla: timedelta
    """How long normal sync may take before a difference is an error."""
    renewal_lead: timedelta

    def in_flight(self, changed_at: datetime | None) -> bool:
        return changed_at is not None and self.now - changed_at < self.sla

    def judge(
        self,
        drift: DriftClass,
        remedy: Remedy,
        summary: str,
        changed_at: datetime | None,
        repair_pending: bool,
    ) -> tuple[DriftClass, Remedy, str]:
        """A difference normal sync (or a repair already under way) may still close is
        in flight, not an error yet; one that needs a person never waits."""
        if remedy is Remedy.EXCEPTION or not (repair_pending or self.in_flight(changed_at)):
            return drift, remedy, summary
        return DriftClass.IN_FLIGHT, Remedy.WAIT, f"in flight: {summary}"

    @property
    def today(self) -> date:
        return self.now.date()


@dataclass(frozen=True)
class PassContext:
    crm: CrmClient
    erp: ErpClient
    erp_system: SourceSystem
    store: Store
    policy: Policy
    since: date | None = None
    keys: frozenset[str] | None = None
    """Only these keys (a targeted re-check); None is every key."""
    page_size: int = 500
    """Records per call to each system (SOQL and SuiteQL allow more; this bounds a
    page's ledger lookup to one query of a bounded IN list)."""
    pending_repairs: frozenset[str] = frozenset()
    """Keys a recent run already handed to a workflow: in flight until the SLA passes."""

    def wanted(self, key: str) -> bool:
        return self.keys is None or key in self.keys


@dataclass
class MetricBook:
    """Totals per metric and currency, as the CRM, the ERP and the ledger see them."""

    totals: dict[tuple[Metric, str], MetricTotals] = field(default_factory=dict)

    def _row(self, metric: Metric, currency: str) -> MetricTotals:
        row = self.totals.get((metric, currency))
        if row is None:
            row = self.totals[(metric, currency)] = MetricTotals(metric=metric, currency=currency)
        return row

    def add(
        self,
        metric: Metric,
        *,
        crm: Money | None = None,
        erp: Money | None = None,
        ledger: Money | None = None,
    ) -> None:
        for side, money in (("crm", crm), ("erp", erp), ("ledger", ledger)):
            if money is None:
                continue
            row = self._row(metric, money.currency)
            current = getattr(row, side)
            setattr(row, side, (current or Decimal(0)) + money.amount)

    def merge(self, rows: Sequence[MetricTotals]) -> None:
        for row in rows:
            mine = self._row(row.metric, row.currency)
            mine.erp += row.erp
            mine.ledger += row.ledger
            if row.crm is not None:
                mine.crm = (mine.crm or Decimal(0)) + row.crm

    def rows(self) -> list[MetricTotals]:
        return [self.totals[k] for k in sorted(self.totals)]


@dataclass
class Batch:
    """What a pass compared since its last batch; ``checkpoint`` resumes after it."""

    compared: int
    findings: list[Finding]
    checkpoint: str | None
    freshness: datetime | None = None
    metrics: MetricBook = field(default_factory=MetricBook)

    def saw(self, modified_at: datetime) -> None:
        """A record changed at ``modified_at`` was compared: how fresh the batch is."""
        if self.freshness is None or modified_at > self.freshness:
            self.freshness = modified_at


def money_text(money: Money | None) -> str | None:
    return None if money is None else f"{money.amount} {money.currency}"
