"""The shapes a Salesforce webhook may take, and what each says about closed-won deals.

Two shapes arrive at ``POST /webhooks/salesforce``: the JSON of a Flow or Apex callout
(Syncline's documented contract), and a Change Data Capture event as relayed from the
``/data/OpportunityChangeEvent`` channel (wrapped in ``data``/``channel`` or bare).
Either way the body is only a trigger; the workflow re-reads the opportunity.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.crm import CLOSED_WON


class FlowCallout(BaseModel):
    """What a record-triggered Flow (or the sandbox CRM) posts when a deal is won."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    event: Literal["opportunity.closed_won"]
    opportunity_id: str = Field(alias="opportunityId", min_length=15, max_length=18)
    account_id: str | None = Field(default=None, alias="accountId")
    stage_name: str | None = Field(default=None, alias="stageName")
    event_id: str | None = Field(default=None, alias="eventId")


class ChangeEventHeader(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    entity_name: str = Field(alias="entityName")
    record_ids: list[str] = Field(alias="recordIds", min_length=1)
    change_type: str = Field(alias="changeType")
    changed_fields: list[str] = Field(default=[], alias="changedFields")
    transaction_key: str | None = Field(default=None, alias="transactionKey")


class ChangeEventPayload(BaseModel):
    model_config = ConfigDict(extra="allow")

    ChangeEventHeader: ChangeEventHeader
    StageName: str | None = None


class WebhookTrigger(BaseModel):
    """What Syncline takes from a delivery: the opportunities it says were won."""

    opportunity_ids: list[str]
    shape: Literal["flow", "cdc"]
    source_event_id: str | None = None


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
        event = ChangeEventPayload.model_validate(cdc)
        header = event.ChangeEventHeader
        if header.entity_name != "Opportunity":
            raise UnsupportedWebhook(f"change events for {header.entity_name} are not handled")
        won = (
            header.change_type in ("CREATE", "UPDATE")
            and event.StageName == CLOSED_WON
            and (header.change_type == "CREATE" or "StageName" in header.changed_fields)
        )
        return WebhookTrigger(
            opportunity_ids=header.record_ids if won else [],
            shape="cdc",
            source_event_id=header.transaction_key,
        )
    callout = FlowCallout.model_validate(body)
    if callout.stage_name not in (None, CLOSED_WON):
        return WebhookTrigger(opportunity_ids=[], shape="flow", source_event_id=callout.event_id)
    return WebhookTrigger(
        opportunity_ids=[callout.opportunity_id], shape="flow", source_event_id=callout.event_id
    )


__all__ = ["UnsupportedWebhook", "ValidationError", "WebhookTrigger", "parse_salesforce_webhook"]
