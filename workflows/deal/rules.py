"""What makes an opportunity an order: pure checks the deal's steps decide by."""

from __future__ import annotations

from collections.abc import Sequence

from models.crm import MAX_ORDER_LINES, Opportunity
from models.erp import SalesOrder, SalesOrderLine
from models.messages import OrderLineRequest


def order_problems(opportunity: Opportunity) -> list[str]:
    """What makes an opportunity impossible to turn into an order, in plain words."""
    if opportunity.lines_in_crm is not None:
        return [
            f"the opportunity has {opportunity.lines_in_crm:,} line items; Syncline places "
            f"orders of at most {MAX_ORDER_LINES:,} (split the deal)"
        ]
    problems = []
    if not opportunity.lines:
        problems.append("the opportunity has no line items")
    for line in opportunity.lines:
        if not line.product_code:
            problems.append(f"line {line.id} has no product code")
        if line.quantity <= 0:
            problems.append(f"line {line.id} has a quantity of {line.quantity}")
        if line.unit_price.amount < 0:
            problems.append(f"line {line.id} has a negative price ({line.unit_price})")
        if line.unit_price.currency != opportunity.currency:
            problems.append(
                f"line {line.id} is priced in {line.unit_price.currency}, "
                f"not {opportunity.currency}"
            )
    return problems


def line_requests(opportunity: Opportunity) -> list[OrderLineRequest]:
    """The opportunity's lines as the ERP order asks for them, by SKU."""
    return [
        OrderLineRequest(
            sku=line.product_code,
            quantity=line.quantity,
            rate=line.unit_price,
            description=line.product_name,
        )
        for line in opportunity.lines
        if line.product_code
    ]


def same_lines(opportunity: Opportunity, order: SalesOrder) -> bool:
    """Whether the ERP order still says what the opportunity says (SKU, quantity, price)."""
    return asks_for(opportunity, order.lines)


def asks_for(opportunity: Opportunity, lines: Sequence[SalesOrderLine]) -> bool:
    """Whether the opportunity's lines are these (SKU, quantity, price)."""
    wanted = sorted(
        (line.product_code or "", line.quantity, line.unit_price.amount)
        for line in opportunity.lines
    )
    return wanted == sorted((line.sku, line.quantity, line.rate.amount) for line in lines)
