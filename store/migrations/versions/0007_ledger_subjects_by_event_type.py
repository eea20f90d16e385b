"""The ledger's facts by type and subject: reconciliation pages the opportunities with
a posted invoice by subject id, reading the index in order (a page costs its rows).

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
    op.create_index("ix_ledger_events_type_subject", "ledger_events", ["event_type", "subject_id"])


def downgrade() -> None:
    op.drop_index("ix_ledger_events_type_subject", table_name="ledger_events")
