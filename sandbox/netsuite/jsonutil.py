"""Responses that write ``Decimal`` values as exact JSON numbers (see models.exact_json)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from models import exact_json


class ExactJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return exact_json.dumps(content).encode("ascii")
