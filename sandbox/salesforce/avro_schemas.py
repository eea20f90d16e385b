"""Change event schemas in Avro, as the Pub/Sub API serves them (``GetSchema``).

One record per entity (``com.sforce.eventbus.OpportunityChangeEvent``): first the
``ChangeEventHeader``, then every field of the object as an optional value. A field's
position in that list is its bit in the header's ``changedFields``, ``nulledFields``
and ``diffFields`` bitmaps, which is why the order is the schema's and never changes
for a given schema id.

Types follow the object's fields: text and ids as ``string``, currency and numbers as
``double``, booleans as ``boolean``, dates and datetimes as ``long`` milliseconds since
the epoch. Salesforce documents "epoch time" for dates without saying days or
milliseconds; the sandbox says milliseconds for both (Syncline reads neither).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from fastavro import parse_schema

from sandbox.salesforce.schema import OBJECTS, FieldDef, ObjectDef
from sandbox.salesforce.values import parse_datetime

NAMESPACE = "com.sforce.eventbus"
HEADER = "ChangeEventHeader"
CHANGE_TYPES = (
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
)
# Not in a change event: the id is in ``recordIds``, the rest is internal.
_NOT_IN_PAYLOAD = frozenset({"Id", "IsDeleted", "SystemModstamp"})

_HEADER_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": HEADER,
    "namespace": NAMESPACE,
    "fields": [
        {"name": "entityName", "type": "string"},
        {"name": "recordIds", "type": {"type": "array", "items": "string"}},
        {
            "name": "changeType",
            "type": {"type": "enum", "name": "ChangeType", "symbols": list(CHANGE_TYPES)},
        },
        {"name": "changeOrigin", "type": "string"},
        {"name": "transactionKey", "type": "string"},
        {"name": "sequenceNumber", "type": "int"},
        {"name": "commitTimestamp", "type": "long"},
        {"name": "commitNumber", "type": "long"},
        {"name": "commitUser", "type": "string"},
        {"name": "nulledFields", "type": {"type": "array", "items": "string"}},
        {"name": "diffFields", "type": {"type": "array", "items": "string"}},
        {"name": "changedFields", "type": {"type": "array", "items": "string"}},
    ],
}


def payload_field_names(obj: ObjectDef) -> list[str]:
    """The object's fields a change event carries, in schema order."""
    return [f.name for f in obj.fields if f.name not in _NOT_IN_PAYLOAD]


def _avro_type(f: FieldDef) -> tuple[str, str]:
    """(Avro type, Salesforce's data type as the schema's ``doc`` names it)."""
    if f.type in ("currency", "double"):
        return "double", "Data:Double" if f.type == "double" else "Data:Currency"
    if f.type == "boolean":
        return "boolean", "Data:Boolean"
    if f.type == "datetime":
        return "long", "Data:DateTime"
    if f.type == "date":
        return "long", "Data:Date"
    return "string", "Data:Reference" if f.type == "reference" else "Data:Text"


def _record_name(obj: ObjectDef) -> str:
    custom = obj.name.endswith("__c")
    return (obj.name.removesuffix("__c") + "__" if custom else obj.name) + "ChangeEvent"


@dataclass(frozen=True)
class ChangeEventSchema:
    obj: ObjectDef
    schema: dict[str, Any]
    schema_json: str
    schema_id: str
    parsed: Any = field(repr=False)
    """fastavro's parsed form, for writing."""
    positions: dict[str, int] = field(repr=False)
    """Each field's bit in the header bitmaps (the header itself is bit 0)."""


def _build(obj: ObjectDef) -> ChangeEventSchema:
    fields: list[dict[str, Any]] = [{"name": HEADER, "type": _HEADER_SCHEMA}]
    for f in obj.fields:
        if f.name in _NOT_IN_PAYLOAD:
            continue
        avro, doc = _avro_type(f)
        fields.append({"name": f.name, "type": ["null", avro], "doc": doc, "default": None})
    schema = {"type": "record", "name": _record_name(obj), "namespace": NAMESPACE, "fields": fields}
    text = json.dumps(schema, separators=(",", ":"))
    # A fingerprint of the schema, as Salesforce's ids are: new fields, new id.
    digest = hashlib.sha256(text.encode()).digest()
    schema_id = base64.urlsafe_b64encode(digest).decode().rstrip("=")[:22]
    positions = {f["name"]: i for i, f in enumerate(fields)}
    return ChangeEventSchema(obj, schema, text, schema_id, parse_schema(schema), positions)


_BY_ENTITY: dict[str, ChangeEventSchema] = {}


def change_event_schema(obj: ObjectDef) -> ChangeEventSchema:
    if obj.name not in _BY_ENTITY:
        _BY_ENTITY[obj.name] = _build(obj)
    return _BY_ENTITY[obj.name]


def schema_by_id(schema_id: str) -> ChangeEventSchema | None:
    for obj in OBJECTS.values():
        schema = change_event_schema(obj)
        if schema.schema_id == schema_id:
            return schema
    return None


def avro_value(f: FieldDef, value: Any) -> Any:
    """A stored field value as the schema types it."""
    if value is None:
        return None
    if f.type in ("currency", "double"):
        return float(value)
    if f.type == "boolean":
        return bool(value)
    if f.type == "datetime":
        return int(parse_datetime(str(value)).timestamp() * 1000)
    if f.type == "date":
        day = date.fromisoformat(str(value))
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    return str(value)
