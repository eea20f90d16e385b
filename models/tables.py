"""Syncline's own tables: the webhook inbox, the event ledger, the identity map,
exceptions, reconciliation runs with their findings, operators' keys and the audit trail.

Times are stored as UTC and always come back timezone-aware, whatever the database.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from models.types import utc_now


class UtcDateTime(TypeDecorator[datetime]):
    """SQLite drops the zone; this keeps every stored instant aware and in UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_column(*, index: bool = False, nullable: bool = False) -> Any:
    return sa.Column(UtcDateTime(), index=index, nullable=nullable)


class DeliveryStatus(StrEnum):
    RECEIVED = "received"
    PENDING = "pending"
    """Stored and answered 202; the inbox relay has not yet signalled its workflows."""
    ACCEPTED = "accepted"
    IGNORED = "ignored"
    REJECTED = "rejected"
    FAILED = "failed"


class WebhookDelivery(SQLModel, table=True):
    """A webhook delivery and its fate, written once before it is answered. A valid one
    is written ``pending`` with its inbox entries in the same transaction; the relay
    later settles it (``accepted``, ``ignored``, ``failed``). One over the sender's rate
    (429), or whose write failed (500), has no row (README: "Deliveries: what is stored,
    and when")."""

    __tablename__ = "webhook_deliveries"

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, primary_key=True)
    source: str = Field(index=True)
    received_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column(index=True))
    raw_body: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    content_type: str | None = None
    signature_valid: bool = False
    signature_digest: str | None = Field(default=None, index=True)
    """SHA-256 of a valid signature: a later delivery under the same one is a replay."""
    status: DeliveryStatus = Field(default=DeliveryStatus.RECEIVED, index=True)
    status_reason: str | None = None
    correlation_id: str
    subject_id: str | None = Field(default=None, index=True)
    workflow_id: str | None = None
    traceparent: str | None = None
    """The request's W3C trace context, so the relay's span continues the request's trace."""
    relay_attempts: int = 0
    """Times the relay tried to signal it (more than one: Temporal was unavailable)."""
    relay_error: str | None = None
    """Why the relay's last attempt did not signal it (still pending, or failed)."""
    relayed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    """When the relay settled it: its workflows signalled, or nothing to signal."""


class InboxEntry(SQLModel, table=True):
    """One record a pending delivery names, in arrival order: the inbox relay signals a
    delivery only when none of its records has an earlier pending delivery. Deleted when
    the delivery is settled, so the table holds only what waits (its depth)."""

    __tablename__ = "webhook_inbox"
    __table_args__ = (sa.Index("ix_webhook_inbox_order", "order_key", "seq"),)

    seq: int | None = Field(default=None, primary_key=True)
    """Assigned by the database at insert: a delivery stored after another one committed
    (a sender that waited for the first 202) always comes after it, whatever the
    replicas' clocks say."""
    delivery_id: str = Field(index=True)
    order_key: str
    """The record (an opportunity or account id) whose deliveries keep their order."""


class LedgerEvent(SQLModel, table=True):
    """The append-only event ledger; reporting reads this, never raw CRM stages."""

    __tablename__ = "ledger_events"
    # The facts one ERP record made (the payments on an invoice): read for every
    # invoice change the feed records.
    __table_args__ = (
        sa.Index("ix_ledger_events_source", "source_system", "source_id", "event_type"),
        # Reconciliation pages the opportunities with invoices by subject (0007).
        sa.Index("ix_ledger_events_type_subject", "event_type", "subject_id"),
    )

    event_id: uuid.UUID = Field(primary_key=True)
    event_type: str = Field(index=True)
    schema_version: int
    occurred_at: datetime = Field(sa_column=_utc_column(index=True))
    recorded_at: datetime = Field(sa_column=_utc_column())
    source_system: str
    source_id: str
    subject_id: str = Field(index=True)
    correlation_id: str
    causation_id: str | None = None
    caused_by: str | None = None
    """The operator whose action led to the fact (a retry), None when no person did."""
    payload: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )


class IdentityLinkRow(SQLModel, table=True):
    """One CRM id ↔ one ERP id per object type."""

    __tablename__ = "identity_links"
    __table_args__ = (
        sa.UniqueConstraint("object_type", "crm_id", name="uq_identity_crm"),
        sa.UniqueConstraint("object_type", "erp_id", name="uq_identity_erp"),
    )

    id: int | None = Field(default=None, primary_key=True)
    object_type: str
    crm_id: str
    erp_id: str
    linked_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())


class ExceptionStatus(StrEnum):
    OPEN = "open"
    RETRY_REQUESTED = "retry_requested"
    RESOLVED = "resolved"


class ExceptionRow(SQLModel, table=True):
    """A run waiting for a person: why, where it stopped, and what happened since."""

    __tablename__ = "exceptions"

    id: str = Field(primary_key=True)
    workflow_id: str = Field(index=True)
    subject_id: str = Field(index=True)
    reason: str
    step: str
    message: str
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    status: ExceptionStatus = Field(default=ExceptionStatus.OPEN, index=True)
    correlation_id: str
    opened_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column(index=True))
    resolved_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    retry_count: int = 0


class ReconciliationRunRow(SQLModel, table=True):
    """One reconciliation run and, once it finished, its report."""

    __tablename__ = "reconciliation_runs"

    id: str = Field(primary_key=True)
    trigger: str
    started_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column(index=True))
    finished_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    status: str = Field(index=True)
    report: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )


class ReconciliationFindingRow(SQLModel, table=True):
    """One difference a run found, with what each system said and what became of it."""

    __tablename__ = "reconciliation_findings"
    __table_args__ = (sa.Index("ix_reconciliation_findings_key", "domain", "key", "found_at"),)

    id: str = Field(primary_key=True)
    run_id: str = Field(index=True)
    domain: str
    key: str
    drift: str
    remedy: str
    state: str
    summary: str
    crm: str | None = None
    erp: str | None = None
    ledger: str | None = None
    currency: str | None = None
    erp_id: str | None = None
    evidence: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    record: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    found_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())


class OperatorKeyRow(SQLModel, table=True):
    """A personal API key: its public id, whose it is, and only a hash of its secret."""

    __tablename__ = "operator_keys"

    key_id: str = Field(primary_key=True)
    """The short public part of the key, shown in lists and the audit trail."""
    operator: str = Field(index=True)
    role: str
    secret_sha256: str
    """Hex SHA-256 of the whole key (``workers/access/keys.py`` says why not a slow hash)."""
    created_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())
    created_by: str
    revoked_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    revoked_by: str | None = None


class AuditRow(SQLModel, table=True):
    """One operator action, or one refused attempt: written once, never changed (the
    migration makes the database itself refuse an UPDATE or DELETE)."""

    __tablename__ = "audit_log"
    # The lock-out counts an address's (or an operator's) recent refusals on every
    # request: these keep that a short index scan.
    __table_args__ = (
        sa.Index("ix_audit_log_address_refusals", "address", "outcome", "at"),
        sa.Index("ix_audit_log_actor_refusals", "actor", "outcome", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utc_now, sa_column=_utc_column(index=True))
    actor: str | None = None
    """The operator's name; None when the credential named nobody."""
    role: str | None = None
    sign_in: str | None = None
    credential_id: str | None = None
    """The key's public id or the identity provider's subject, never a secret."""
    action: str = Field(index=True)
    target: str | None = Field(default=None, index=True)
    """The record acted on: an exception id, a reconciliation run, an operator's name."""
    subject_id: str | None = Field(default=None, index=True)
    """The business record it concerns (an opportunity id), for the deal's timeline."""
    address: str | None = None
    """Where the request came from: the client's address, or ``cli@<host>``."""
    outcome: str
    status: int | None = None
    """The HTTP status answered (401, 403, 202…); None outside the API."""
    reason: str | None = None
    detail: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False)
    )


class DealOrderRow(SQLModel, table=True):
    """The lines a deal last asked its ERP order to have (placed, or amended to), kept
    beside the ERP's own copy: finance may edit the order in the ERP, and a later run of
    the deal (the first terminated, then replayed) must tell that edit, which stands,
    from a CRM change, which the deal amends the order for. The ledger cannot say which
    versions were the deal's: the feed may record the deal's amendment first."""

    __tablename__ = "deal_orders"

    erp_order_id: str = Field(primary_key=True)
    crm_opportunity_id: str
    lines: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    ordered_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())


class StreamPositionRow(SQLModel, table=True):
    """Where a change stream stands (a Pub/Sub replay id, hex), kept beside the stream's
    own workflow state: a stream started afresh (its run terminated, its namespace
    rebuilt) resumes from here instead of the tip, and a gap is found, not skipped."""

    __tablename__ = "stream_positions"

    stream_id: str = Field(primary_key=True)
    replay_id: str
    saved_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())
