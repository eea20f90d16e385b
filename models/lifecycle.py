"""Inputs, signals and states of the processes after the order: the ERP → CRM mirrors
of customers and catalog items, renewals, and a won deal changed afterwards."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from models.changes import CustomerChange, ItemChange, SubscriptionChange
from models.crm import AccountLegalMirror, Address
from models.deal import DealException
from models.events import SourceSystem
from models.types import UtcDatetime

MirrorChange = Annotated[CustomerChange | ItemChange, Field(discriminator="kind")]


class MirrorStatus(StrEnum):
    PENDING = "pending"
    IN_SYNC = "in_sync"
    NO_CRM_RECORD = "no_crm_record"
    NEEDS_ATTENTION = "needs_attention"


class MirrorInput(BaseModel):
    erp_system: SourceSystem
    kind: Literal["customer", "item"]
    erp_id: str
    correlation_id: str
    latest: MirrorChange | None = None
    """Carried across continue-as-new: the newest ERP snapshot applied."""
    written: AccountLegalMirror | None = None
    account_ids: list[str] = []
    status: MirrorStatus = MirrorStatus.PENDING
    """Carried across continue-as-new: where the newest snapshot applied left the mirror
    (a run that applied its last change and then continued is still in sync)."""
    pending: list[MirrorChange] = []
    """Carried across continue-as-new: a newer snapshot heard and not yet applied."""
    edits: list[AccountEdit] = []
    """Carried across continue-as-new: CRM edits heard and not yet checked."""
    heard_edits: list[str] = []
    """Carried across continue-as-new: transaction keys of the newest edits heard, so
    the same edit heard twice (a webhook relay and the change stream) is checked once."""
    history_limit: int = 2_000
    """Events a run keeps before it continues as new: a mirror lives as long as its
    record. Tests lower it to reach a continue-as-new without thousands of signals."""


class MirrorState(BaseModel):
    erp_system: SourceSystem
    kind: str
    erp_id: str
    status: MirrorStatus = MirrorStatus.PENDING
    latest: MirrorChange | None = None
    account_ids: list[str] = []
    written: AccountLegalMirror | None = None
    applied: int = 0
    """ERP versions written to the CRM by this run."""
    echoes_ignored: int = 0
    conflicts: int = 0
    open_exception: DealException | None = None
    detail: str | None = None


class AccountEdit(BaseModel):
    """A CRM user's change to an account, as change data capture reported it."""

    account_id: str
    changed_fields: list[str]
    values: dict[str, str | None]
    """The new values of the changed fields, by CRM field name."""
    origin: str | None = None
    transaction_key: str | None = None


class RenewalInput(BaseModel):
    erp_system: SourceSystem
    subscription_id: str
    lead: timedelta = timedelta(days=90)
    """How long before the term ends the renewal opportunity opens."""
    correlation_id: str
    subscription: SubscriptionChange | None = None
    opened: dict[str, str] = {}
    """Term start (ISO date) → renewal opportunity id, carried across continue-as-new."""


class RenewalStatus(StrEnum):
    WAITING = "waiting"
    OPENED = "opened"
    CANCELLED = "cancelled"
    NEEDS_ATTENTION = "needs_attention"


class RenewalState(BaseModel):
    erp_system: SourceSystem
    subscription_id: str
    status: RenewalStatus = RenewalStatus.WAITING
    subscription: SubscriptionChange | None = None
    opens_at: UtcDatetime | None = None
    term_end: date | None = None
    opened: dict[str, str] = {}
    term_changes: int = 0
    open_exception: DealException | None = None
    detail: str | None = None


class OpportunityChanged(BaseModel):
    """The CRM says a won opportunity changed (stage, amount, lines): re-read it."""

    crm_opportunity_id: str
    changed_fields: list[str] = []
    stage: str | None = None
    delivery_id: str | None = None
    received_at: UtcDatetime


def owned_fields(
    *, legal_name: str | None, tax_id: str | None, erp_customer_id: str | None, address: Address
) -> dict[str, str | None]:
    """The ERP-owned account fields by the canonical names an ``AccountEdit`` carries."""
    return {
        "legal_name": legal_name,
        "tax_id": tax_id,
        "erp_customer_id": erp_customer_id,
        "billing_street": address.street,
        "billing_city": address.city,
        "billing_state": address.state,
        "billing_postal_code": address.postal_code,
        "billing_country": address.country,
    }


def owned_values(mirror: AccountLegalMirror) -> dict[str, str | None]:
    """What Syncline wrote onto the account."""
    return owned_fields(
        legal_name=mirror.legal_name,
        tax_id=mirror.tax_id,
        erp_customer_id=mirror.erp_customer_id,
        address=mirror.billing_address,
    )
