"""Tryton's JSON: Decimals, dates and datetimes travel as ``{"__class__": ...}`` objects.

Shared by the Tryton connector (REST) and the sandbox's accountant (JSON-RPC): both
protocols encode values the same way.

Tryton keeps timestamps as naive UTC; they are made aware here, at the edge, so no
naive datetime reaches the rest of Syncline.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any


def _decode_object(value: dict[str, Any]) -> Any:
    kind = value.get("__class__")
    if kind == "Decimal":
        return Decimal(value["decimal"])
    if kind == "date":
        return date(value["year"], value["month"], value["day"])
    if kind == "datetime":
        return datetime(
            value["year"],
            value["month"],
            value["day"],
            value["hour"],
            value["minute"],
            value["second"],
            value.get("microsecond", 0),
            tzinfo=UTC,
        )
    return value


def _encode_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: Tryton expects UTC")
        moment = value.astimezone(UTC)
        return {
            "__class__": "datetime",
            "year": moment.year,
            "month": moment.month,
            "day": moment.day,
            "hour": moment.hour,
            "minute": moment.minute,
            "second": moment.second,
            "microsecond": moment.microsecond,
        }
    if isinstance(value, date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    raise TypeError(f"cannot send {type(value).__name__} to Tryton")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_encode_value, separators=(",", ":"))


def loads(data: bytes | str) -> Any:
    # Plain JSON numbers with a fraction are read exactly too, in case a module sends one.
    return json.loads(data, object_hook=_decode_object, parse_float=Decimal)


def query_value(value: Any) -> str:
    """A domain, an order or a context as Tryton's REST API takes it in a URL or header:
    URL-safe base64 of the JSON."""
    return base64.urlsafe_b64encode(dumps(value).encode()).decode()
