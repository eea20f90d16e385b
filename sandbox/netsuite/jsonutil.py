"""JSON with exact money: numbers are parsed as ``Decimal`` and written digit for digit.

``json.dumps`` cannot write a ``Decimal`` as a number (and the float detour loses
cents), so the sandbox reads request bodies and writes responses with these two.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from fastapi.responses import Response

_encode_str = json.encoder.encode_basestring_ascii


def loads(data: bytes | str) -> Any:
    """Parse JSON keeping every fractional number as an exact ``Decimal``."""
    return json.loads(data, parse_float=Decimal)


def dumps(value: Any) -> str:
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


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
        # 'f' never uses an exponent, so 1E+2 is written 100 and every digit stays.
        out.append(format(value, "f"))
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


class ExactJSONResponse(Response):
    """A JSON response that writes ``Decimal`` values as exact JSON numbers."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("ascii")
