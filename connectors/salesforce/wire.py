"""Salesforce wire formats: exact JSON numbers, ``+0000`` datetimes, SOQL string literals."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

_encode_str = json.encoder.encode_basestring


def parse_datetime(text: str) -> datetime:
    """A Salesforce datetime (``2026-11-23T10:00:00.000+0000``, or ``Z``) as aware UTC."""
    if "T" not in text:
        raise ValueError(f"not a Salesforce datetime: {text!r}")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"Salesforce datetime without an offset: {text!r}")
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("refusing a naive datetime: Salesforce needs an instant")
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def to_decimal(value: Any) -> Decimal:
    """A JSON number as read by ``loads`` (Decimal or int), or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise ValueError(f"not a number: {value!r}")
    return Decimal(value)


def loads(content: bytes | str) -> Any:
    """JSON with every fractional number as an exact ``Decimal``."""
    return json.loads(content, parse_float=Decimal)


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_encode_str(value))
    elif value is None or isinstance(value, bool):
        out.append({None: "null", True: "true", False: "false"}[value])
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("Salesforce cannot store a non-finite number")
        out.append(format(value, "f"))  # the exact digits, never through a float
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(json.dumps(value, allow_nan=False))
    elif isinstance(value, datetime):
        out.append(_encode_str(format_datetime(value)))
    elif isinstance(value, date):
        out.append(_encode_str(value.isoformat()))
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            out.append("," if index else "")
            out.append(_encode_str(str(key)) + ":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            out.append("," if index else "")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot send {type(value).__name__} to Salesforce")


def dumps(value: Any) -> bytes:
    """JSON for a request body: Decimals as exact numbers, datetimes in Salesforce format."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode()


def soql_quote(value: str) -> str:
    """A SOQL string literal; escapes quotes and backslashes so data cannot become syntax."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f"'{escaped}'"
