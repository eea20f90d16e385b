"""A fulfilment of an order whose deal no longer runs (paid and done, or followed past
its time): no run is left to show it on the opportunity, so the change feed's
publisher writes the fulfilment status itself, as it does an order's status."""

from __future__ import annotations

from connectors.errors import NotFoundError
from connectors.protocols import CrmClient
from models.changes import FulfilmentChange
from models.crm import OpportunityOrderUpdate
from models.types import utc_now


async def write_back_fulfilment(
    crm: CrmClient | None, opportunity_id: str, fulfilment: FulfilmentChange
) -> None:
    """Onto the opportunity that names the fulfilment's order, and only then."""
    if crm is None:
        return
    try:
        opportunity = await crm.get_opportunity(opportunity_id)
    except NotFoundError:
        return  # deleted in the CRM: nothing shows the order any more
    if opportunity.erp_order_id != fulfilment.erp_order_id:
        return
    await crm.write_order_status(
        opportunity_id,
        OpportunityOrderUpdate(
            erp_order_id=fulfilment.erp_order_id,
            order_number=fulfilment.order_number or opportunity.erp_order_id or "",
            order_status=opportunity.erp_order_status or "",
            fulfilment_status=fulfilment.order_status,
            synced_at=utc_now(),
        ),
    )
