"""Salesforce wire formats: exact JSON numbers, ``+0000`` datetimes, SOQL string literals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from models import exact_json


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
    return exact_json.loads(content)


def _salesforce_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} to Salesforce")


def dumps(value: Any) -> bytes:
    """JSON for a request body: Decimals as exact numbers, datetimes in Salesforce format."""
    return exact_json.dumps(value, default=_salesforce_value).encode()


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
