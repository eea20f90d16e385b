from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from models.webhooks import UnsupportedWebhook, parse_salesforce_webhook

OPP = "006000000000001AAA"


def test_flow_callout() -> None:
    trigger = parse_salesforce_webhook(
        {
            "event": "opportunity.closed_won",
            "opportunityId": OPP,
            "stageName": "Closed Won",
            "eventId": "e1",
        }
    )
    assert (
        trigger.opportunity_ids == [OPP]
        and trigger.shape == "flow"
        and trigger.source_event_id == "e1"
    )


def _cdc(
    stage: str, changed: list[str], change_type: str = "UPDATE", ids: list[str] | None = None
) -> dict[str, Any]:
    return {
        "data": {
            "payload": {
                "ChangeEventHeader": {
                    "entityName": "Opportunity",
                    "recordIds": ids or [OPP],
                    "changeType": change_type,
                    "changedFields": changed,
                    "transactionKey": "tx-1",
                },
                "StageName": stage,
            },
            "event": {"replayId": 7},
        },
        "channel": "/data/OpportunityChangeEvent",
    }


def test_cdc_stage_change_to_closed_won_triggers_every_record() -> None:
    trigger = parse_salesforce_webhook(
        _cdc("Closed Won", ["StageName", "LastModifiedDate"], ids=[OPP, OPP[:-1] + "B"])
    )
    assert len(trigger.opportunity_ids) == 2 and trigger.shape == "cdc"


def test_cdc_change_that_is_not_a_won_transition_is_ignored() -> None:
    assert parse_salesforce_webhook(_cdc("Closed Won", ["Amount"])).opportunity_ids == []
    assert parse_salesforce_webhook(_cdc("Prospecting", ["StageName"])).opportunity_ids == []


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"event": "opportunity.closed_won"},
        {"event": "something.else", "opportunityId": OPP},
        {"event": "opportunity.closed_won", "opportunityId": "short"},
    ],
)
def test_malformed_bodies_are_refused(body: object) -> None:
    with pytest.raises((UnsupportedWebhook, ValidationError)):
        parse_salesforce_webhook(body)


def test_change_events_of_other_objects_are_refused() -> None:
    body = _cdc("Closed Won", ["StageName"])
    body["data"]["payload"]["ChangeEventHeader"]["entityName"] = "Contact"
    with pytest.raises(UnsupportedWebhook, match="Contact"):
        parse_salesforce_webhook(body)


def test_a_changed_callout_names_the_opportunity_to_reconsider() -> None:
    trigger = parse_salesforce_webhook(
        {
            "event": "opportunity.changed",
            "opportunityId": OPP,
            "stageName": "Closed Lost",
            "changedFields": ["StageName"],
        }
    )
    assert trigger.opportunity_ids == []
    assert trigger.changed_opportunity_ids == [OPP]
    assert trigger.stage == "Closed Lost" and trigger.changed_fields == ["StageName"]


def test_a_won_opportunity_leaving_closed_won_in_cdc_is_a_change_not_a_win() -> None:
    trigger = parse_salesforce_webhook(_cdc("Negotiation/Review", ["StageName"]))
    assert trigger.opportunity_ids == [] and trigger.changed_opportunity_ids == [OPP]


ACCOUNT = "001000000000001AAA"


def _account_cdc(fields: dict[str, Any], origin: str, changed: list[str]) -> dict[str, Any]:
    return {
        "data": {
            "payload": {
                "ChangeEventHeader": {
                    "entityName": "Account",
                    "recordIds": [ACCOUNT],
                    "changeType": "UPDATE",
                    "changedFields": changed,
                    "changeOrigin": origin,
                    "transactionKey": "tx-9",
                },
                **fields,
            },
            "event": {"replayId": 7},
        },
        "channel": "/data/AccountChangeEvent",
    }


def test_account_edits_keep_only_erp_owned_fields_by_canonical_name() -> None:
    trigger = parse_salesforce_webhook(
        _account_cdc(
            {"BillingCity": "Lyon", "Segment__c": "SMB", "Tax_Id__c": None},
            "com/salesforce/api/rest/59.0",
            ["BillingCity", "Segment__c", "Tax_Id__c"],
        )
    )
    (edit,) = trigger.account_edits
    assert edit.account_id == ACCOUNT
    assert edit.values == {"billing_city": "Lyon", "tax_id": None}
    assert trigger.origin == "com/salesforce/api/rest/59.0"


def test_compound_address_fields_of_cdc_are_understood() -> None:
    trigger = parse_salesforce_webhook(
        _account_cdc(
            {"BillingAddress": {"City": "Graz", "Country": "AT"}},
            "com/salesforce/api/rest/59.0;client=syncline",
            ["BillingAddress.City", "BillingAddress.Country"],
        )
    )
    (edit,) = trigger.account_edits
    assert edit.values == {"billing_city": "Graz", "billing_country": "AT"}
    assert edit.origin is not None and edit.origin.endswith("client=syncline")


def test_account_changes_to_crm_owned_fields_are_no_edit_at_all() -> None:
    trigger = parse_salesforce_webhook(
        _account_cdc({"Segment__c": "SMB"}, "com/salesforce/api/rest/59.0", ["Segment__c"])
    )
    assert trigger.account_edits == []


def test_only_the_exact_client_name_marks_syncline_s_own_writes() -> None:
    from activities.crm_triggers import written_by as _written_by

    assert _written_by("com/salesforce/api/rest/59.0;client=syncline", "syncline")
    assert not _written_by("com/salesforce/api/rest/59.0;client=syncline_etl", "syncline")
    assert not _written_by("com/salesforce/api/rest/59.0", "syncline")
    assert not _written_by(None, "syncline")


def test_a_won_stage_under_another_name_still_starts_the_deal() -> None:
    """An org that renamed its won stage ("Won - Signed") sends the same event; the
    workflow reads IsWon from the CRM, so the ingress must not drop it by its name."""
    trigger = parse_salesforce_webhook(
        {
            "event": "opportunity.closed_won",
            "opportunityId": "0065g00000ABCDEFGH",
            "stageName": "Won - Signed",
        }
    )
    assert trigger.opportunity_ids == ["0065g00000ABCDEFGH"]
