"""The webhook inbox, the event ledger, the identity map and the exceptions queue.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("raw_body", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.String(), nullable=True),
        sa.Column("signature_valid", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("RECEIVED", "ACCEPTED", "IGNORED", "REJECTED", "FAILED", name="deliverystatus"),
            nullable=False,
        ),
        sa.Column("status_reason", sa.String(), nullable=True),
        sa.Column("correlation_id", sa.String(), nullable=False),
        sa.Column("subject_id", sa.String(), nullable=True),
        sa.Column("workflow_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("received_at", "source", "status", "subject_id"):
        op.create_index(f"ix_webhook_deliveries_{column}", "webhook_deliveries", [column])

    op.create_table(
        "ledger_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("source_system", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column("subject_id", sa.String(), nullable=False),
        sa.Column("correlation_id", sa.String(), nullable=False),
        sa.Column("causation_id", sa.String(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    for column in ("subject_id", "event_type", "occurred_at"):
        op.create_index(f"ix_ledger_events_{column}", "ledger_events", [column])
    op.create_index(
        "ix_ledger_events_source", "ledger_events", ["source_system", "source_id", "event_type"]
    )

    op.create_table(
        "identity_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_type", sa.String(), nullable=False),
        sa.Column("crm_id", sa.String(), nullable=False),
        sa.Column("erp_id", sa.String(), nullable=False),
        sa.Column("linked_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("object_type", "crm_id", name="uq_identity_crm"),
        sa.UniqueConstraint("object_type", "erp_id", name="uq_identity_erp"),
    )

    op.create_table(
        "exceptions",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=False),
        sa.Column("subject_id", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("step", sa.String(), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("OPEN", "RETRY_REQUESTED", "RESOLVED", name="exceptionstatus"),
            nullable=False,
        ),
        sa.Column("correlation_id", sa.String(), nullable=False),
        sa.Column("opened_at", UtcDateTime(), nullable=False),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("status", "workflow_id", "opened_at", "subject_id"):
        op.create_index(f"ix_exceptions_{column}", "exceptions", [column])


def downgrade() -> None:
    for table in ("exceptions", "identity_links", "ledger_events", "webhook_deliveries"):
        op.drop_table(table)
    sa.Enum(name="exceptionstatus").drop(op.get_bind(), checkfirst=True)
    sa.Enum(name="deliverystatus").drop(op.get_bind(), checkfirst=True)
