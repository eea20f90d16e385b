"""Currency internal ids as ISO codes, for SuiteQL rows.

SuiteQL answers a record's ``currency`` as the currency's internal id ("1"), where the
REST record API answers a reference whose ``refName`` is the code. Syncline's money
carries the ISO code, so every row read through SuiteQL has its currency named here:
the account's currency list (``SELECT id, symbol FROM currency``; ``symbol`` is the
record's "ISO Code" field) is read once, and again only when an id is new to it. The
integration role needs the Currency list's View permission for that query.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from connectors.netsuite.mapping import CURRENCY_CODE

log = logging.getLogger(__name__)

CURRENCY_QUERY = "SELECT id, symbol FROM currency"


class CurrencyCodes:
    def __init__(self, read: Callable[[str], Awaitable[list[dict[str, Any]]]]) -> None:
        self._read = read
        self._codes: dict[str, str] = {}
        self._missing: set[str] = set()  # read once, not there: not asked for again
        self._lock = asyncio.Lock()

    async def name(self, rows: Iterable[dict[str, Any]]) -> None:
        """Replace each row's currency id by its code, in place. An id the account does
        not list stays as it is (mapping then falls back to the base currency)."""
        rows = [row for row in rows if _is_id(row.get("currency"))]
        if not rows:
            return
        wanted = {str(row["currency"]) for row in rows}
        if not wanted <= self._codes.keys() | self._missing:
            async with self._lock:
                if not wanted <= self._codes.keys() | self._missing:
                    await self._refresh(wanted)
        for row in rows:
            row["currency"] = self._codes.get(str(row["currency"]), row["currency"])

    async def _refresh(self, wanted: set[str]) -> None:
        listed = await self._read(CURRENCY_QUERY)
        self._codes.update(
            {str(r["id"]): str(r["symbol"]).upper() for r in listed if r.get("symbol")}
        )
        unknown = wanted - self._codes.keys()
        if unknown:
            log.warning("currency ids %s are not in the account's currency list", sorted(unknown))
            self._missing |= unknown


def _is_id(value: Any) -> bool:
    return value is not None and value != "" and not CURRENCY_CODE.match(str(value))
