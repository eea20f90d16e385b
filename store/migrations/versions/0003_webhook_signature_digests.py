"""Remember each valid webhook signature (as a digest), so a replay can be refused.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("signature_digest", sa.String(), nullable=True))
    op.create_index(
        "ix_webhook_deliveries_signature_digest", "webhook_deliveries", ["signature_digest"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_signature_digest", "webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("signature_digest")
