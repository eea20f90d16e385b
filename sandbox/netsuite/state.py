"""The live sandbox: store, credentials, limiter and faults of one app instance."""

from __future__ import annotations

import functools
import logging
import sqlite3
from datetime import UTC, date, datetime
from typing import Any

from sandbox.catalog import DEFAULT_CATALOG
from sandbox.faults import FaultInjector, fault_rules_from_env
from sandbox.netsuite import approval, records
from sandbox.netsuite.auth import Authenticator
from sandbox.netsuite.config import NetSuiteSandboxConfig
from sandbox.netsuite.credentials import Credentials
from sandbox.netsuite.errors import error_body
from sandbox.netsuite.limits import ConcurrencyLimiter
from sandbox.netsuite.store import (
    Store,
    get_setting,
    record_counts,
    set_setting,
    wipe_records,
)

logger = logging.getLogger(__name__)

_SEEDED_SETTING = "catalog_seeded"
# Per sandbox, so rules meant for the ERP never fire on the CRM sandbox.
FAULTS_ENV_VAR = "SYNCLINE_SANDBOX_ERP_FAULTS"


def _netsuite_fault_body(status: int, code: str, detail: str) -> Any:
    return error_body(status, code, detail)


class NetSuiteSandbox:
    def __init__(self, config: NetSuiteSandboxConfig) -> None:
        self.config = config
        self.store = Store(config.db_path)
        self.credentials = Credentials(self.store, config.token_ttl_seconds)
        self.auth = Authenticator(self.credentials, config.account_id)
        self.limiter = ConcurrencyLimiter(config.concurrency_limit, config.latency_ms)
        rules = config.faults if config.faults is not None else fault_rules_from_env(FAULTS_ENV_VAR)
        self.faults = FaultInjector(rules, error_body=_netsuite_fault_body)
        if config.approval_mode is not None:
            mode = config.approval_mode
            self.store.write_sync(lambda conn: approval.set_approval_mode(conn, mode))
        if config.seed_catalog:
            self.store.write_sync(self._seed_if_new)
            for field in records.CATALOG_FIELDS:
                if f"item.{field}" in self.store.added_columns:
                    self.store.write_sync(functools.partial(self._backfill, field))

    def _backfill(self, field: str, conn: sqlite3.Connection) -> None:
        # A database seeded before items had this field: its catalog learns the values
        # (which items recur, how each earns revenue).
        updated = records.backfill_catalog_field(conn, DEFAULT_CATALOG, field, self.now())
        logger.info("gave %d catalog items their %s", updated, field)

    @staticmethod
    def now() -> datetime:
        # Second precision, like NetSuite's lastModifiedDate.
        return datetime.now(UTC).replace(microsecond=0)

    def _seed_if_new(self, conn: sqlite3.Connection) -> None:
        # Seed once per database, so items an operator deleted do not come back.
        if get_setting(conn, _SEEDED_SETTING) is None:
            created = records.seed_catalog(conn, DEFAULT_CATALOG, self.now())
            set_setting(conn, _SEEDED_SETTING, "1")
            logger.info("seeded %d catalog items", created)

    async def reset(self) -> None:
        """Wipe records and closed periods (credentials stay), reseed, zero the stats."""

        def wipe(conn: sqlite3.Connection) -> None:
            wipe_records(conn)
            set_setting(conn, records.CLOSED_THROUGH_SETTING, None)
            conn.execute("DELETE FROM setting WHERE key = ?", (_SEEDED_SETTING,))
            if self.config.seed_catalog:
                self._seed_if_new(conn)

        await self.store.write(wipe)
        self.limiter.reset_stats()
        self.faults.reset_stats()

    async def closed_through(self) -> date | None:
        value = await self.store.read(
            lambda conn: get_setting(conn, records.CLOSED_THROUGH_SETTING)
        )
        return None if value is None else date.fromisoformat(value)

    async def set_closed_through(self, through: date | None) -> None:
        await self.store.write(
            lambda conn: set_setting(
                conn,
                records.CLOSED_THROUGH_SETTING,
                None if through is None else through.isoformat(),
            )
        )

    async def stats(self) -> dict[str, Any]:
        counts = await self.store.read(record_counts)
        return {
            "requests": self.limiter.requests,
            "limit_exceeded": self.limiter.rejected,
            "in_flight": self.limiter.in_flight,
            "peak_in_flight": self.limiter.peak,
            "slot_seconds": round(self.limiter.slot_seconds_now(), 4),
            "concurrency_limit": self.limiter.limit,
            "latency_ms": self.limiter.latency_ms,
            "faults_fired": self.faults.fired,
            "counts": {rt.name: counts.get(rt.name, 0) for rt in records.RECORD_TYPES.values()},
        }

    def close(self) -> None:
        self.store.close()
