"""The lock-out after repeated refusals, counted in the audit trail.

An address with ``refusals`` refused attempts (401 or 403) within the window is answered
429 until the oldest of them leaves the window; so is an operator with that many 403s
(their own key, asking for what their role may not), from wherever they call. Only
refusals of a signed-in operator count against the operator: a stranger sending wrong
keys cannot lock someone else out, only their own address.

The audit trail is shared by every API replica, so the count is too. Requests answered
429 here are not audited, so a locked-out sender cannot grow the trail either.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from models.types import utc_now
from store.audit import AuditTrail


class Lockout:
    def __init__(self, audit: AuditTrail, refusals: int, window: timedelta) -> None:
        self._audit = audit
        self._refusals = refusals
        self._window = window

    async def of_address(self, address: str) -> int | None:
        """Seconds until the address may try again; None when it is not locked out."""
        return self._seconds_left(
            await self._audit.recent_refusals(
                utc_now() - self._window, self._refusals, address=address
            )
        )

    async def of_operator(self, name: str) -> int | None:
        return self._seconds_left(
            await self._audit.recent_refusals(
                utc_now() - self._window, self._refusals, actor=name, status=403
            )
        )

    def _seconds_left(self, newest_first: list[datetime]) -> int | None:
        if len(newest_first) < self._refusals:
            return None
        free_at = newest_first[-1] + self._window
        return max(1, math.ceil((free_at - utc_now()).total_seconds()))
