"""The shapes a Salesforce webhook may take, and what each says to Syncline.

Two shapes arrive at ``POST /webhooks/salesforce``: the JSON of a Flow or Apex callout
(Syncline's documented contract: ``opportunity.closed_won`` when a deal is won,
``opportunity.changed`` when a won deal changes afterwards), and a Change Data Capture
event as relayed from ``/data/OpportunityChangeEvent`` or ``/data/AccountChangeEvent``
(wrapped in ``data``/``channel`` or bare). An opportunity notice is only a trigger: the
workflow re-reads the opportunity. An account change is checked against the fields the
ERP owns; ``changeOrigin`` tells Syncline's own writes from a user's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from models.crm import CLOSED_WON
from models.lifecycle import AccountEdit
from models.types import IsoCurrencyCode

# Account fields the ERP owns (DESIGN promise 1), by their canonical names.
ACCOUNT_OWNED_FIELDS = {
    "Syncline_Legal_Name__c": "legal_name",
    "Tax_Id__c": "tax_id",
    "Syncline_Customer_Id__c": "erp_customer_id",
    "BillingStreet": "billing_street",
    "BillingCity": "billing_city",
    "BillingState": "billing_state",
    "BillingPostalCode": "billing_postal_code",
    "BillingCountry": "billing_country",
}
# Change data capture reports the compound address as ``BillingAddress.City``.
_ADDRESS_PARTS = {
    "Street": "BillingStreet",
    "City": "BillingCity",
    "State": "BillingState",
    "PostalCode": "BillingPostalCode",
    "Country": "BillingCountry",
}


SalesforceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")]
"""A record id as Salesforce issues them: 15 or 18 ASCII letters and digits. Anything
else cannot name a record, and would otherwise travel into workflow ids and queries."""


class FlowCallout(BaseModel):
    """What a record-triggered Flow (or the sandbox CRM) posts when a deal is won."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    event: Literal["opportunity.closed_won", "opportunity.changed"]
    opportunity_id: SalesforceId = Field(alias="opportunityId")
    account_id: SalesforceId | None = Field(default=None, alias="accountId")
    stage_name: str | None = Field(default=None, alias="stageName")
    event_id: str | None = Field(default=None, alias="eventId")
    changed_fields: list[str] = Field(default=[], alias="changedFields")
    # Informational (the workflow reads the CRM), but a sender that sends them must send
    # them right: a malformed amount or currency says the callout itself is broken.
    amount: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    currency: IsoCurrencyCode | None = Field(default=None, alias="currencyIsoCode")


class ChangeEventHeader(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    entity_name: str = Field(alias="entityName")
    record_ids: list[SalesforceId] = Field(alias="recordIds", min_length=1)
    change_type: str = Field(alias="changeType")
    changed_fields: list[str] = Field(default=[], alias="changedFields")
    transaction_key: str | None = Field(default=None, alias="transactionKey")
    change_origin: str | None = Field(default=None, alias="changeOrigin")


class ChangeEventPayload(BaseModel):
    model_config = ConfigDict(extra="allow")

    ChangeEventHeader: ChangeEventHeader
    StageName: str | None = None
    Amount: Decimal | None = Field(default=None, allow_inf_nan=False)
    CurrencyIsoCode: IsoCurrencyCode | None = None


class WebhookTrigger(BaseModel):
    """What Syncline takes from a delivery."""

    opportunity_ids: list[str]
    """Opportunities it says were won."""
    shape: Literal["flow", "cdc"]
    source_event_id: str | None = None
    changed_opportunity_ids: list[str] = []
    """Won opportunities it says changed afterwards (reopened, lost, amended)."""
    changed_fields: list[str] = []
    stage: str | None = None
    account_edits: list[AccountEdit] = []
    """Edits of ERP-owned account fields (whoever made them: see ``origin``)."""
    origin: str | None = None


class UnsupportedWebhook(ValueError):
    """The body is JSON, but neither a callout nor a change event we understand."""


def _cdc_payload(body: dict[str, Any]) -> dict[str, Any] | None:
    if "ChangeEventHeader" in body:
        return body
    data = body.get("data")
    if isinstance(data, dict) and isinstance(data.get("payload"), dict):
        payload: dict[str, Any] = data["payload"]
        return payload
    return None


def parse_salesforce_webhook(body: Any) -> WebhookTrigger:
    """Raises ``UnsupportedWebhook`` or pydantic's ``ValidationError`` with the reason."""
    if not isinstance(body, dict):
        raise UnsupportedWebhook("the body must be a JSON object")
    cdc = _cdc_payload(body)
    if cdc is not None:
        return _from_change_event(cdc)
    callout = FlowCallout.model_validate(body)
    if callout.event == "opportunity.changed":
        return WebhookTrigger(
            opportunity_ids=[],
            shape="flow",
            source_event_id=callout.event_id,
            changed_opportunity_ids=[callout.opportunity_id],
            changed_fields=callout.changed_fields,
            stage=callout.stage_name,
        )
    # The stage's name is not checked: an org may rename its won stage, and the deal's
    # workflow reads the opportunity's IsWon from the CRM before anything is ordered.
    return WebhookTrigger(
        opportunity_ids=[callout.opportunity_id], shape="flow", source_event_id=callout.event_id
    )


def _from_change_event(cdc: dict[str, Any]) -> WebhookTrigger:
    event = ChangeEventPayload.model_validate(cdc)
    header = event.ChangeEventHeader
    if header.entity_name == "Account":
        return WebhookTrigger(
            opportunity_ids=[],
            shape="cdc",
            source_event_id=header.transaction_key,
            account_edits=_account_edits(header, cdc),
            origin=header.change_origin,
        )
    if header.entity_name != "Opportunity":
        raise UnsupportedWebhook(f"change events for {header.entity_name} are not handled")
    stage_changed = header.change_type == "CREATE" or "StageName" in header.changed_fields
    won = (
        header.change_type in ("CREATE", "UPDATE")
        and event.StageName == CLOSED_WON
        and stage_changed
    )
    return WebhookTrigger(
        opportunity_ids=header.record_ids if won else [],
        shape="cdc",
        source_event_id=header.transaction_key,
        # Any other change may undo a won deal; the deal's workflow, if one runs,
        # re-reads the opportunity and decides.
        changed_opportunity_ids=(
            header.record_ids if not won and header.change_type != "CREATE" else []
        ),
        changed_fields=header.changed_fields,
        stage=event.StageName,
        origin=header.change_origin,
    )


def _account_edits(header: ChangeEventHeader, payload: dict[str, Any]) -> list[AccountEdit]:
    """The ERP-owned fields a change event touched, with their new values."""
    flat = dict(payload)
    address = payload.get("BillingAddress")
    if isinstance(address, dict):
        for part, field in _ADDRESS_PARTS.items():
            if part in address:
                flat[field] = address[part]
    changed = set()
    for name in header.changed_fields:
        if name.startswith("BillingAddress."):
            name = _ADDRESS_PARTS.get(name.split(".", 1)[1], name)
        if name in ACCOUNT_OWNED_FIELDS:
            changed.add(name)
    if header.change_type != "UPDATE" or not changed:
        return []
    values = {
        ACCOUNT_OWNED_FIELDS[name]: None if flat.get(name) is None else str(flat[name])
        for name in sorted(changed)
    }
    return [
        AccountEdit(
            account_id=record_id,
            changed_fields=sorted(changed),
            values=values,
            origin=header.change_origin,
            transaction_key=header.transaction_key,
        )
        for record_id in header.record_ids
    ]


__all__ = ["UnsupportedWebhook", "ValidationError", "WebhookTrigger", "parse_salesforce_webhook"]
