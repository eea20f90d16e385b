"""What finance did to settle a deal's invoices, as the model records it: voids, credit
memos, refunds (payments are ``Opportunity.payments``), and the approval decisions on
held orders. Plain data; ``settlement_checks`` says what must follow from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)


@dataclass
class Memo:
    total: Decimal
    created_from: str | None
    """The invoice it was created from; None when standalone."""
    applied_to: str | None = None
    applied: Decimal = ZERO
    refunded: Decimal = ZERO

    @property
    def left(self) -> Decimal:
        return self.total - self.applied - self.refunded


@dataclass
class Books:
    voided: set[str] = field(default_factory=set)
    credited: dict[str, Decimal] = field(default_factory=dict)
    """Invoice id → credit applied to it."""
    memos: dict[str, Memo] = field(default_factory=dict)
    refunds: dict[str, tuple[str, Decimal]] = field(default_factory=dict)
    """Refund id → (credit memo it pays out, amount)."""
    approved: set[str] = field(default_factory=set)
    """ERP orders finance approved."""
    rejected: set[str] = field(default_factory=set)
    """ERP orders finance rejected at approval."""

    def memo_issued(
        self, memo_id: str, total: Decimal, created_from: str | None, invoice: str, applied: Decimal
    ) -> None:
        self.memos[memo_id] = Memo(total, created_from, invoice if applied else None, applied)
        if applied:
            self.credited[invoice] = self.credited.get(invoice, ZERO) + applied

    def refunded(self, refund_id: str, memo_id: str, amount: Decimal) -> None:
        self.refunds[refund_id] = (memo_id, amount)
        self.memos[memo_id].refunded += amount


@dataclass(frozen=True)
class MemoView:
    id: str
    invoice_id: str | None
    """The invoice it was created from; None for a standalone credit memo."""
    total: Decimal
    left: Decimal
    """Credit neither applied nor refunded."""


@dataclass(frozen=True)
class RefundView:
    id: str
    memo_id: str
    amount: Decimal
