"""The webhook inbox: a valid delivery is stored ``pending`` with one entry per record it
names, and the relay signals Temporal from there (the 202 follows the durable write).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.tables import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_NEW_COLUMNS = ("traceparent", "relay_attempts", "relay_error", "relayed_at")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL keeps the statuses as a native enum type (0001); SQLite as text.
        op.execute("ALTER TYPE deliverystatus ADD VALUE IF NOT EXISTS 'PENDING' AFTER 'RECEIVED'")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(), nullable=True))
        batch.add_column(
            sa.Column("relay_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("relay_error", sa.String(), nullable=True))
        batch.add_column(sa.Column("relayed_at", UtcDateTime(), nullable=True))
    # The model has no server default; the existing rows got their 0 from it.
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.alter_column("relay_attempts", server_default=None)
    op.create_table(
        "webhook_inbox",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(), nullable=False),
        sa.Column("order_key", sa.String(), nullable=False),
    )
    op.create_index("ix_webhook_inbox_delivery_id", "webhook_inbox", ["delivery_id"])
    op.create_index("ix_webhook_inbox_order", "webhook_inbox", ["order_key", "seq"])


def downgrade() -> None:
    op.drop_table("webhook_inbox")
    with op.batch_alter_table("webhook_deliveries") as batch:
        for column in _NEW_COLUMNS:
            batch.drop_column(column)
    # PostgreSQL cannot drop an enum value; a 'PENDING' left in the type is harmless.
