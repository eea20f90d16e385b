"""Where each CRM change stream stands, so a stream started afresh resumes there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.tables import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stream_positions",
        sa.Column("stream_id", sa.String(), primary_key=True),
        sa.Column("replay_id", sa.String(), nullable=False),
        sa.Column("saved_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stream_positions")
