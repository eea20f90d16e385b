"""Change events as Pub/Sub sends them: header bitmaps (compound fields included) read
back as field names, events rewritten into the webhook's shape, and the stream's
position and lag bookkeeping."""

from __future__ import annotations

import io
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from activities.crm_stream import _start
from connectors.salesforce.change_events import as_relayed_event, commit_time, field_names
from connectors.salesforce.pubsub import ReplayStart
from models.crm_stream import LAG_SAMPLE, FollowStreamInput, StreamProgress, StreamStart
from models.salesforce_pubsub import CUSTOM, EARLIEST, LATEST
from models.webhooks import parse_salesforce_webhook
from sandbox.salesforce.avro_schemas import change_event_schema
from sandbox.salesforce.event_bus import bitmap
from sandbox.salesforce.schema import find_object

# Shaped like Salesforce's AccountChangeEvent: a compound address as a nested record.
_ADDRESS = {
    "type": "record",
    "name": "Address",
    "fields": [
        {"name": "Street", "type": ["null", "string"], "default": None},
        {"name": "City", "type": ["null", "string"], "default": None},
        {"name": "Country", "type": ["null", "string"], "default": None},
    ],
}
_HEADER = change_event_schema(find_object("Account"))  # type: ignore[arg-type]
ACCOUNT_SCHEMA = {
    "type": "record",
    "name": "AccountChangeEvent",
    "namespace": "com.sforce.eventbus",
    "fields": [
        _HEADER.schema["fields"][0],
        {"name": "Name", "type": ["null", "string"], "default": None},
        {"name": "BillingAddress", "type": ["null", _ADDRESS], "default": None},
        {"name": "Tax_Id__c", "type": ["null", "string"], "default": None},
        {"name": "ShippingAddress", "type": ["null", "Address"], "default": None},
    ],
}


def _header(change_type: str, changed: list[str], nulled: list[str] | None = None) -> Any:
    return {
        "entityName": "Account",
        "recordIds": ["001000000000001AAA"],
        "changeType": change_type,
        "changeOrigin": "com/salesforce/api/rest/59.0",
        "transactionKey": "tx-1",
        "sequenceNumber": 1,
        "commitTimestamp": 1_765_000_000_000,
        "commitNumber": 7,
        "commitUser": "005000000000001AAA",
        "nulledFields": nulled or [],
        "diffFields": [],
        "changedFields": changed,
    }


def test_bitmaps_name_top_level_and_compound_fields() -> None:
    named: dict[str, Any] = {}
    parse_schema(ACCOUNT_SCHEMA, named_schemas=named)
    # Bits 1 and 3 (Name, Tax_Id__c); City and Country of BillingAddress (position 2)
    # and Street of ShippingAddress, named by reference to the same record type.
    names = field_names(ACCOUNT_SCHEMA, ["0x0A", "2-0x06", "4-0x1"], named)
    assert names == [
        "Name",
        "Tax_Id__c",
        "BillingAddress.City",
        "BillingAddress.Country",
        "ShippingAddress.Street",
    ]
    assert field_names(ACCOUNT_SCHEMA, [], named) == []


def test_an_account_update_reads_as_the_relay_posts_it() -> None:
    named: dict[str, Any] = {}
    parsed = parse_schema(ACCOUNT_SCHEMA, named_schemas=named)
    record = {
        "ChangeEventHeader": _header("UPDATE", ["0x08", "2-0x02"], nulled=["0x08"]),
        "Name": None,  # unchanged: null, as Pub/Sub sends it
        "BillingAddress": {"Street": None, "City": "Lyon", "Country": None},
        "Tax_Id__c": None,  # changed to null
        "ShippingAddress": None,
    }
    buffer = io.BytesIO()
    schemaless_writer(buffer, parsed, record)
    decoded = schemaless_reader(io.BytesIO(buffer.getvalue()), parsed, None)
    event = as_relayed_event(decoded, ACCOUNT_SCHEMA, named)  # type: ignore[arg-type]
    assert event["ChangeEventHeader"]["changedFields"] == ["Tax_Id__c", "BillingAddress.City"]
    assert event["ChangeEventHeader"]["nulledFields"] == ["Tax_Id__c"]
    assert set(event) == {"ChangeEventHeader", "Tax_Id__c", "BillingAddress"}
    assert commit_time(event) is not None
    (edit,) = parse_salesforce_webhook(event).account_edits
    assert edit.values == {"billing_city": "Lyon", "tax_id": None}
    assert edit.transaction_key == "tx-1"


def test_a_create_carries_what_has_a_value_a_delete_nothing() -> None:
    named: dict[str, Any] = {}
    parse_schema(ACCOUNT_SCHEMA, named_schemas=named)
    create = {"ChangeEventHeader": _header("CREATE", []), "Name": "Acme", "Tax_Id__c": None}
    assert set(as_relayed_event(create, ACCOUNT_SCHEMA, named)) == {"ChangeEventHeader", "Name"}
    delete = {"ChangeEventHeader": _header("DELETE", []), "Name": None}
    assert set(as_relayed_event(delete, ACCOUNT_SCHEMA, named)) == {"ChangeEventHeader"}


def test_the_sandbox_bitmaps_read_back_as_the_fields_it_changed() -> None:
    schema = change_event_schema(find_object("Opportunity"))  # type: ignore[arg-type]
    changed = ["StageName", "Amount", "LastModifiedDate"]
    encoded = bitmap([schema.positions[name] for name in changed])
    assert len(encoded) == 1 and encoded[0].startswith("0x") and len(encoded[0]) % 2 == 0
    assert sorted(field_names(schema.schema, encoded, {})) == sorted(changed)
    assert bitmap([]) == []


def test_where_a_run_starts() -> None:
    request = FollowStreamInput(channel="/data/X", correlation_id="c")
    assert _start(StreamProgress(replay_id="00000000000000ff"), request) == ReplayStart(
        bytes.fromhex("00000000000000ff"), CUSTOM
    )
    assert _start(StreamProgress(), request).preset == LATEST
    after_gap = request.model_copy(update={"start": StreamStart.EARLIEST})
    assert _start(StreamProgress(), after_gap) == ReplayStart(None, EARLIEST)


def test_a_run_reports_its_newest_lags_only() -> None:
    progress = StreamProgress()
    for n in range(LAG_SAMPLE + 50):
        progress.add_lag(float(n))
    assert len(progress.lag_seconds) == LAG_SAMPLE
    assert progress.lag_seconds[-1] == LAG_SAMPLE + 49.0
    assert progress.lag_seconds[0] == 50.0
    # What the heartbeat carries comes back whole on the next attempt.
    again = StreamProgress.model_validate(progress.model_dump(mode="json"))
    assert again == progress
