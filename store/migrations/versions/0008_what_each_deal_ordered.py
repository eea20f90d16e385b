"""What each deal last asked its ERP order to say, so a later run of the deal tells a
finance edit of the order (which stands) from a CRM change (which it amends for).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.tables import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deal_orders",
        sa.Column("erp_order_id", sa.String(), primary_key=True),
        sa.Column("crm_opportunity_id", sa.String(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("ordered_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("deal_orders")
