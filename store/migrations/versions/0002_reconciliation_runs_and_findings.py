"""Reconciliation runs with their reports, and the differences each found.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reconciliation_runs_status", "reconciliation_runs", ["status"])
    op.create_index("ix_reconciliation_runs_started_at", "reconciliation_runs", ["started_at"])

    op.create_table(
        "reconciliation_findings",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("domain", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("drift", sa.String(), nullable=False),
        sa.Column("remedy", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("summary", sa.String(), nullable=False),
        sa.Column("crm", sa.String(), nullable=True),
        sa.Column("erp", sa.String(), nullable=True),
        sa.Column("ledger", sa.String(), nullable=True),
        sa.Column("currency", sa.String(), nullable=True),
        sa.Column("erp_id", sa.String(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=True),
        sa.Column("found_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reconciliation_findings_run_id", "reconciliation_findings", ["run_id"])
    op.create_index(
        "ix_reconciliation_findings_key", "reconciliation_findings", ["domain", "key", "found_at"]
    )


def downgrade() -> None:
    op.drop_table("reconciliation_findings")
    op.drop_table("reconciliation_runs")
