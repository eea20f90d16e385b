"""Exact JSON for money: parse numbers as ``Decimal``, write ``Decimal`` as a number.

``json.dumps`` refuses ``Decimal`` and a float detour loses cents, so request bodies
are written here. (The sandbox has its own copy: connectors import only ``models``.)
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

_encode_str = json.encoder.encode_basestring_ascii


def loads(data: bytes | str) -> Any:
    return json.loads(data, parse_float=Decimal)


def dumps(value: Any) -> str:
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def _write(value: Any, out: list[str]) -> None:
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
        out.append(format(value, "f"))  # never an exponent, every digit kept
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
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
