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
    body["data"]["payload"]["ChangeEventHeader"]["entityName"] = "Account"
    with pytest.raises(UnsupportedWebhook, match="Account"):
        parse_salesforce_webhook(body)
