"""The ledger's facts by subject and type: reconciliation pages the opportunities with
invoice facts by subject id and reads a page's facts of a few types together.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ledger_events_subject_type", "ledger_events", ["subject_id", "event_type"])


def downgrade() -> None:
    op.drop_index("ix_ledger_events_subject_type", table_name="ledger_events")
