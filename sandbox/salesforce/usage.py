"""The ``Sforce-Limit-Info: api-usage=N/LIMIT`` counter.

Counting happens in memory on every data API request; the total is written to the
database at most once a second (and on shutdown), so the counter survives restarts
without adding a write to every read request.
"""

from __future__ import annotations

import threading
import time

from sandbox.salesforce.store import Database, Records

_META_KEY = "api_usage"
FLUSH_INTERVAL_SECONDS = 1.0


class UsageMeter:
    def __init__(self, db: Database, limit: int) -> None:
        self._db = db
        self.limit = limit
        self._lock = threading.Lock()
        with db.read() as tx:
            self._used = int(tx.get_meta(_META_KEY) or 0)
        self._flushed = self._used
        self._flushed_at = time.monotonic()

    @property
    def used(self) -> int:
        return self._used

    def hit(self) -> int:
        with self._lock:
            self._used += 1
            return self._used

    def header(self, used: int) -> str:
        return f"api-usage={used}/{self.limit}"

    def due(self) -> bool:
        return self._used != self._flushed and (
            time.monotonic() - self._flushed_at >= FLUSH_INTERVAL_SECONDS
        )

    def flush(self) -> None:
        """Persist the counter (blocking: call from a worker thread)."""
        with self._lock:
            used = self._used
            self._flushed_at = time.monotonic()
        with self._db.write() as conn:
            Records(conn).set_meta(_META_KEY, str(used))
        self._flushed = used

    def reset(self) -> None:
        with self._lock:
            self._used = 0
        self.flush()
