"""Which system owns which object and fields (DESIGN promise 1), as data.

Connectors and workflows consult this table instead of hard-coding direction, so a
change of ownership is a change of data.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class System(StrEnum):
    CRM = "crm"
    ERP = "erp"


class OwnershipRule(BaseModel):
    object: str
    fields: tuple[str, ...]
    owner: System
    mirror: str


OWNERSHIP: tuple[OwnershipRule, ...] = (
    OwnershipRule(
        object="opportunity",
        fields=("stage", "forecast_amount"),
        owner=System.CRM,
        mirror="nothing until closed-won",
    ),
    OwnershipRule(
        object="customer",
        fields=("name", "tax_id", "billing_address"),
        owner=System.ERP,
        mirror="read-only mirror on the account",
    ),
    OwnershipRule(
        object="account", fields=("owner", "segment"), owner=System.CRM, mirror="nothing"
    ),
    OwnershipRule(
        object="product",
        fields=("sku", "name", "price"),
        owner=System.ERP,
        mirror="catalog mirror in the CRM",
    ),
    OwnershipRule(
        object="sales_order",
        fields=("order", "status"),
        owner=System.ERP,
        mirror="order number and status on the opportunity",
    ),
    OwnershipRule(
        object="invoice",
        fields=("invoice", "payment"),
        owner=System.ERP,
        mirror="billing and payment status on the opportunity",
    ),
    OwnershipRule(
        object="subscription",
        fields=("term", "renewal_date"),
        owner=System.ERP,
        mirror="a renewal opportunity, created by Syncline",
    ),
)


def owner_of(object_name: str, field: str) -> System:
    """The system of record for one field of one object."""
    for rule in OWNERSHIP:
        if rule.object == object_name and field in rule.fields:
            return rule.owner
    raise KeyError(f"no owner recorded for {object_name}.{field}")
