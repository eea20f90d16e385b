"""The demo catalog: the SKUs both sandboxes start with.

The ERP owns products (DESIGN promise 1); the demo seeds the same SKUs into the
sandbox CRM as the catalog mirror, so a closed-won deal's lines resolve in the ERP.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class CatalogItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    name: str
    price: Decimal
    currency: str = "USD"
    term_months: int | None = None
    """The subscription term a sale of this item starts; ``None`` is a one-time sale."""
    revenue_type: str | None = None
    """``recurring``, ``one_time`` or ``usage``: what reporting splits ARR by."""


DEFAULT_CATALOG: tuple[CatalogItem, ...] = (
    CatalogItem(
        sku="SL-PLATFORM-ANNUAL",
        name="Syncline Platform, annual licence",
        price=Decimal("24000.00"),
        term_months=12,
        revenue_type="recurring",
    ),
    CatalogItem(
        sku="SL-PLATFORM-MONTHLY",
        name="Syncline Platform, monthly licence",
        price=Decimal("2200.00"),
        term_months=1,
        revenue_type="recurring",
    ),
    CatalogItem(
        sku="SL-SEAT-PRO",
        name="Pro seat, annual",
        price=Decimal("1188.00"),
        term_months=12,
        revenue_type="recurring",
    ),
    CatalogItem(
        sku="SL-SEAT-VIEWER",
        name="Viewer seat, annual",
        price=Decimal("228.00"),
        term_months=12,
        revenue_type="recurring",
    ),
    CatalogItem(
        sku="SL-ONBOARDING",
        name="Onboarding package (fixed fee)",
        price=Decimal("5000.00"),
        revenue_type="one_time",
    ),
    CatalogItem(
        sku="SL-SUPPORT-PREMIUM",
        name="Premium support, annual",
        price=Decimal("4800.00"),
        term_months=12,
        revenue_type="recurring",
    ),
    CatalogItem(
        sku="SL-API-CALLS-1M",
        name="API call pack, 1M calls",
        price=Decimal("349.99"),
        revenue_type="usage",
    ),
    CatalogItem(
        sku="SL-TRAINING-DAY",
        name="Remote training day",
        price=Decimal("1450.00"),
        revenue_type="one_time",
    ),
)
