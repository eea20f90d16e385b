"""Field values: Salesforce's wire formats, exact JSON numbers, and input coercion.

Inside the sandbox numbers are ``Decimal`` (never float), dates are ``YYYY-MM-DD``
strings and datetimes are Salesforce's ``2026-11-23T10:00:00.000+0000`` strings, so a
stored document is already in the shape the API returns.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

from sandbox.salesforce.errors import bad_request
from sandbox.salesforce.schema import FieldDef

# Room for any 18-digit field value plus its scale; Salesforce rounds half up.
_WIDE = Context(prec=60, rounding=ROUND_HALF_UP)


def now_utc() -> datetime:
    return datetime.now(UTC)


def format_datetime(value: datetime) -> str:
    """Salesforce's datetime format: milliseconds and a ``+0000`` offset."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 instant (``Z``, ``+0000`` and ``+00:00`` offsets); naive means UTC."""
    if "T" not in text:
        raise ValueError(f"not a datetime: {text!r}")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError("non-finite number")
    return format(value, "f")


def _type_error(f: FieldDef, value: Any) -> Exception:
    kind = {
        "currency": "double",
        "double": "double",
        "boolean": "boolean",
        "date": "date",
        "datetime": "datetime",
    }.get(f.type, "string")
    return bad_request(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from value {value!r} or request may be "
        f"missing a required field",
    )


def _to_decimal(f: FieldDef, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _type_error(f, value)
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise _type_error(f, value) from exc
    if not number.is_finite():
        raise _type_error(f, value)
    scale = f.scale or 0
    integer_digits = (f.precision or 18) - scale
    # Checked before rounding: quantize cannot represent what the field cannot hold anyway.
    if abs(number) >= Decimal(10) ** integer_digits:
        raise bad_request(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{f.label or f.name}: value outside of valid range on numeric field",
            [f.name],
        )
    return number.quantize(Decimal(1).scaleb(-scale), context=_WIDE)


def coerce(f: FieldDef, value: Any) -> Any:
    """A JSON input value as stored for field ``f``; raises Salesforce's errors."""
    if value is None:
        return None
    if f.type in ("currency", "double"):
        return _to_decimal(f, value)
    if f.type == "boolean":
        if not isinstance(value, bool):
            raise _type_error(f, value)
        return value
    if f.type == "date":
        if not isinstance(value, str):
            raise _type_error(f, value)
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise _type_error(f, value) from exc
    if f.type == "datetime":
        if not isinstance(value, str):
            raise _type_error(f, value)
        try:
            return format_datetime(parse_datetime(value))
        except ValueError as exc:
            raise _type_error(f, value) from exc
    # Text, picklists and ids: Salesforce turns JSON numbers and booleans into text.
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, Decimal)):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise _type_error(f, value)
    if f.length and len(text) > f.length and f.type not in ("id", "reference"):
        raise bad_request(
            "STRING_TOO_LONG",
            f"{f.label or f.name}: data value too large: {text[:40]} (max length={f.length})",
            [f.name],
        )
    return text
