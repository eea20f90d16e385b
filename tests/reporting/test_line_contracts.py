"""Order events v2: lines gain ``revenue_type`` and ``term_months``, additively."""

from __future__ import annotations

import json

from models.event_contracts import OrderAcceptedV1, OrderAmendedV1, additive, json_schema
from models.events import EventType
from tests.reporting.ledger import quarter_events


def test_version_2_of_the_order_events_is_additive_down_to_the_lines() -> None:
    for event_type in (EventType.ORDER_ACCEPTED, EventType.ORDER_AMENDED):
        assert additive(json_schema(event_type, 1), json_schema(event_type, 2)) == []
    v2 = json_schema(EventType.ORDER_ACCEPTED, 2)
    broken = json.loads(json.dumps(v2))
    line = broken["$defs"]["OrderLineV2"]
    del line["properties"]["sku"]
    line["properties"]["quantity"] = {"type": "number"}
    assert sorted(additive(v2, broken)) == ["lines[].quantity changed type", "lines[].sku removed"]


def test_a_version_1_consumer_reads_version_2_order_events() -> None:
    # order.accepted is at v3 (approved_at), which has v2's lines.
    events = [
        e
        for e in quarter_events()
        if e.schema_version >= 2
        and e.event_type in (EventType.ORDER_ACCEPTED, EventType.ORDER_AMENDED)
    ]
    assert {e.event_type for e in events} == {EventType.ORDER_ACCEPTED, EventType.ORDER_AMENDED}
    for event in events:
        payload = json.loads(event.model_dump_json())["payload"]
        contract = (
            OrderAcceptedV1 if event.event_type == EventType.ORDER_ACCEPTED else OrderAmendedV1
        )
        read = contract.model_validate(payload)
        assert [line.sku for line in read.lines] == [line["sku"] for line in payload["lines"]]
        # What v1 does not know is kept, not dropped: a v1 consumer passes it on intact.
        assert read.model_dump()["lines"][0]["revenue_type"] == payload["lines"][0]["revenue_type"]
