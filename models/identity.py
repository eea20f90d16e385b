"""The identity map: one CRM id to one ERP id, per object type."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class ObjectType(StrEnum):
    CUSTOMER = "customer"
    PRODUCT = "product"
    SALES_ORDER = "sales_order"
    ORDER_CUSTOMER = "order_customer"
    """The ERP customer created under the CRM account's id, which the account's deals
    order for. Not ``CUSTOMER``: that is the customer an account mirrors, which finance
    may have matched by tax id to another record."""


class IdentityLink(BaseModel):
    object_type: ObjectType
    crm_id: str
    erp_id: str
