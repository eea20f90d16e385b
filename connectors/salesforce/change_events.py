"""Change events as Pub/Sub delivers them, turned into the shape the webhook takes.

Pub/Sub sends a change event as Avro: every field of the record (those a change left
alone are null) and a ``ChangeEventHeader`` whose ``changedFields``, ``nulledFields``
and ``diffFields`` are bitmaps over the schema's fields: the first entry a hexadecimal
bitmap of top-level positions (``"0x650004E0"``: bit n is the schema's field n), each
further one ``"<position>-0x…"`` for the parts of a compound field (an address).

Streaming API (CometD) and a relay built on it send the same event as JSON with field
names and only the fields that changed. That is the shape Syncline's webhook already
parses (``models.webhooks``), so a decoded event is rewritten into it: one parser for
both paths, and one meaning for a change event whichever way it came.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

HEADER = "ChangeEventHeader"
_BITMAP_FIELDS = ("changedFields", "nulledFields", "diffFields")
_CARRY_ALL = ("CREATE", "UNDELETE")


def _positions(bitmap: str) -> list[int]:
    """The set bits of ``0x…``, lowest first."""
    bits = int(bitmap[2:], 16) if bitmap[:2].lower() == "0x" else int(bitmap, 16)
    return [n for n in range(bits.bit_length()) if bits >> n & 1]


def _record_of(
    field_type: Any, named: Mapping[str, Any], namespace: str | None
) -> dict[str, Any] | None:
    """The record schema of an (optional) field, if it is a compound one. A type used a
    second time is named, not spelled out, and its name may omit the namespace."""
    candidates = field_type if isinstance(field_type, list) else [field_type]
    for candidate in candidates:
        if isinstance(candidate, str):
            candidate = named.get(candidate) or named.get(f"{namespace}.{candidate}")
        if isinstance(candidate, dict) and candidate.get("type") == "record":
            return candidate
    return None


def field_names(
    schema: Mapping[str, Any], bitmaps: Sequence[str], named: Mapping[str, Any]
) -> list[str]:
    """Field names of a header bitmap field, ``Parent.Part`` for compound parts."""
    fields = schema["fields"]
    names: list[str] = []
    for entry in bitmaps:
        parent, _, bitmap = entry.rpartition("-")
        if not parent:
            names += [fields[n]["name"] for n in _positions(bitmap) if n < len(fields)]
            continue
        outer = fields[int(parent)]
        inner = _record_of(outer["type"], named, schema.get("namespace"))
        if inner is None:
            continue  # not a compound field in this schema: nothing to name
        parts = inner["fields"]
        names += [f"{outer['name']}.{parts[n]['name']}" for n in _positions(bitmap)]
    return names


def as_relayed_event(
    record: Mapping[str, Any], schema: Mapping[str, Any], named: Mapping[str, Any]
) -> dict[str, Any]:
    """The event as CometD would relay it: header with field names, and the fields a
    create carries (every non-null one) or an update changed (nulled ones included)."""
    header = dict(record[HEADER])
    for name in _BITMAP_FIELDS:
        header[name] = field_names(schema, header.get(name) or [], named)
    change_type = str(header.get("changeType", ""))
    changed = {name.split(".", 1)[0] for name in header["changedFields"]}
    values: dict[str, Any] = {}
    for name, value in record.items():
        if name == HEADER:
            continue
        if (change_type in _CARRY_ALL and value is not None) or name in changed:
            values[name] = value
    return {HEADER: header, **values}


def commit_time(event: Mapping[str, Any]) -> datetime | None:
    """When the change was committed in the CRM (``commitTimestamp``, epoch ms)."""
    stamp = event.get(HEADER, {}).get("commitTimestamp")
    if not isinstance(stamp, int):
        return None
    return datetime.fromtimestamp(stamp / 1000, tz=UTC)
