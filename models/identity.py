"""The identity map: one CRM id to one ERP id, per object type."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class ObjectType(StrEnum):
    CUSTOMER = "customer"
    PRODUCT = "product"
    SALES_ORDER = "sales_order"


class IdentityLink(BaseModel):
    object_type: ObjectType
    crm_id: str
    erp_id: str
