"""What the deal's signals brought and its steps have not taken yet.

Signal handlers only append here; the run takes the news at its own pace. Nothing in
it is dropped: the run ends only when the inbox is empty, checked with no wait between
the check and the end, so a signal that lands in the last workflow task is still taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.billing import InvoiceSnapshot
    from models.changes import FulfilmentChange, OrderChange, OrderStatus
    from models.lifecycle import OpportunityChanged


@dataclass
class DealInbox:
    invoices: list[InvoiceSnapshot] = field(default_factory=list)
    opportunity_changes: list[OpportunityChanged] = field(default_factory=list)
    order_changes: list[OrderChange] = field(default_factory=list)
    fulfilments: list[FulfilmentChange] = field(default_factory=list)
    follow_checked: bool = False
    """Reconciliation asked whether the follow of the billing is over (not news: it
    changes nothing of the deal, and the run answers it only while it follows)."""

    def has_reversal_news(self) -> bool:
        """The CRM or the ERP may have undone or changed the deal."""
        return bool(self.opportunity_changes or self.order_changes)

    def has_news(self) -> bool:
        return bool(self.invoices or self.fulfilments) or self.has_reversal_news()

    def take_invoices(self) -> list[InvoiceSnapshot]:
        taken, self.invoices = self.invoices, []
        return taken

    def cancellation_of(self, order_id: str) -> OrderChange | None:
        """The ERP's cancellation of the order, if one came (left in the inbox)."""
        return next(
            (
                c
                for c in self.order_changes
                if c.id == order_id and c.status is OrderStatus.CANCELLED
            ),
            None,
        )

    def take_fulfilments(self) -> list[FulfilmentChange]:
        taken, self.fulfilments = self.fulfilments, []
        return taken

    def take_order_changes(self) -> list[OrderChange]:
        taken, self.order_changes = self.order_changes, []
        return taken

    def take_opportunity_changes(self) -> list[OpportunityChanged]:
        taken, self.opportunity_changes = self.opportunity_changes, []
        return taken
