"""Salesforce wire formats: exact JSON numbers, ``+0000`` datetimes, SOQL string literals."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from models import exact_json

_ID_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID15 = re.compile(r"^[0-9A-Za-z]{15}$")


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


def id_suffix(id15: str) -> str:
    """The three characters Salesforce appends to a 15-char id to make it 18: one per
    five characters, flagging which of them are upper case."""
    suffix = ""
    for start in range(0, 15, 5):
        flags = sum(1 << n for n, char in enumerate(id15[start : start + 5]) if "A" <= char <= "Z")
        suffix += _ID_SUFFIX_ALPHABET[flags]
    return suffix


def id_after(after: str) -> str:
    """A SOQL condition on ``Id`` selecting exactly the ids greater than ``after`` in
    Python's (ordinal) order, which is how Salesforce orders ``Id`` too.

    ``after`` need not be an id: a key just below one (its last character decremented)
    is fine. Salesforce reads an 18-char literal's suffix as the case of the first 15
    characters, so such a key is never sent as is. Salesforce compares the 15-char ids;
    the records whose 15 characters equal ``after``'s are greater exactly when their
    suffix (fixed by those 15) is greater than what follows them in ``after``.
    """
    id15 = after[:15]
    if not _ID15.match(id15):
        raise ValueError(f"not a Salesforce id to page after: {after!r}")
    op = ">=" if id_suffix(id15) > after[15:] else ">"
    return f"Id {op} {soql_quote(id15)}"
