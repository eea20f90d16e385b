"""Exact JSON for money: numbers parse as ``Decimal``, and ``Decimal`` is written digit
for digit.

``json.dumps`` cannot write a ``Decimal`` as a number, and a detour through float loses
cents, so every request and response body that carries money goes through here: the
connectors' and the sandboxes' alike.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

_encode_str = json.encoder.encode_basestring_ascii


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(data: bytes | str) -> Any:
    """Every fractional number becomes an exact ``Decimal``; NaN and Infinity are refused."""
    return json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None) -> str:
    """JSON text; ``default`` turns a value of another type into one of these (as in
    ``json.dumps``), e.g. a datetime into the string a given API expects."""
    out: list[str] = []
    _write(value, out, default)
    return "".join(out)


def _write(value: Any, out: list[str], default: Callable[[Any], Any] | None) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_str(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("a non-finite Decimal has no JSON form")
        out.append(format(value, "f"))  # never an exponent: 1E+2 is written 100
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a non-finite float has no JSON form")
        out.append(repr(value))
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(_encode_str(str(key)))
            out.append(":")
            _write(item, out, default)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out, default)
        out.append("]")
    elif default is not None:
        _write(default(value), out, None)
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
