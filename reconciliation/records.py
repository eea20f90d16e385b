"""Reconciliation runs and their findings in Syncline's database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from models.reconciliation import (
    Domain,
    Finding,
    FindingState,
    ReconciliationReport,
)
from models.tables import ReconciliationFindingRow, ReconciliationRunRow
from models.types import utc_now
from store import Store


def finding_row_id(run_id: str, finding: Finding) -> str:
    """Stable within a run: a comparison resumed after a crash rewrites the same row."""
    return f"{run_id}:{finding.domain}:{finding.drift}:{finding.key}"


class ReconciliationRecords:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._sessions = store.sessions()

    def _upsert(self, table: type, values: list[dict[str, object]], keep: Sequence[str]) -> Any:
        dialect = postgresql if self._store.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(values)
        return statement.on_conflict_do_update(
            index_elements=["id"], set_={name: statement.excluded[name] for name in keep}
        )

    # -- runs ------------------------------------------------------------------------

    async def save_run(self, report: ReconciliationReport) -> None:
        values = {
            "id": report.id,
            "trigger": str(report.trigger),
            "started_at": report.started_at,
            "finished_at": report.finished_at,
            "status": str(report.status),
            "report": report.model_dump(mode="json"),
        }
        async with self._sessions() as session:
            await session.execute(
                self._upsert(ReconciliationRunRow, [values], ("finished_at", "status", "report"))
            )
            await session.commit()

    async def get_run(self, run_id: str) -> ReconciliationReport | None:
        async with self._sessions() as session:
            row = await session.get(ReconciliationRunRow, run_id)
        return None if row is None else ReconciliationReport.model_validate(row.report)

    async def recent_runs(self, limit: int = 20) -> list[ReconciliationReport]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ReconciliationRunRow)
                .order_by(col(ReconciliationRunRow.started_at).desc())
                .limit(limit)
            )
            return [ReconciliationReport.model_validate(row.report) for row in rows.all()]

    # -- findings --------------------------------------------------------------------

    async def save_findings(self, run_id: str, findings: Sequence[Finding]) -> None:
        if not findings:
            return
        now = utc_now()
        values: list[dict[str, object]] = [
            {
                "id": finding_row_id(run_id, f),
                "run_id": run_id,
                "domain": str(f.domain),
                "key": f.key,
                "drift": str(f.drift),
                "remedy": str(f.remedy),
                "state": str(FindingState.IN_FLIGHT if f.remedy == "wait" else FindingState.FOUND),
                "summary": f.summary,
                "crm": f.crm,
                "erp": f.erp,
                "ledger": f.ledger,
                "currency": f.currency,
                "erp_id": f.erp_id,
                "evidence": f.evidence,
                "record": f.record,
                "found_at": now,
            }
            for f in findings
        ]
        async with self._sessions() as session:
            await session.execute(
                self._upsert(
                    ReconciliationFindingRow,
                    values,
                    ("remedy", "summary", "crm", "erp", "ledger", "evidence", "record"),
                )
            )
            await session.commit()

    async def set_state(self, row_id: str, state: FindingState, note: str | None = None) -> None:
        async with self._sessions() as session:
            values: dict[str, object] = {"state": str(state)}
            if note is not None:
                values["summary"] = note
            await session.execute(
                sa.update(ReconciliationFindingRow)
                .where(col(ReconciliationFindingRow.id) == row_id)
                .values(**values)
            )
            await session.commit()

    async def findings(
        self,
        run_id: str,
        *,
        domain: Domain | None = None,
        state: FindingState | None = None,
        after: str = "",
        limit: int = 500,
    ) -> list[ReconciliationFindingRow]:
        """A page of one run's findings, by row id."""
        async with self._sessions() as session:
            query = (
                select(ReconciliationFindingRow)
                .where(ReconciliationFindingRow.run_id == run_id)
                .where(col(ReconciliationFindingRow.id) > after)
                .order_by(col(ReconciliationFindingRow.id))
                .limit(limit)
            )
            if domain is not None:
                query = query.where(ReconciliationFindingRow.domain == str(domain))
            if state is not None:
                query = query.where(ReconciliationFindingRow.state == str(state))
            return list((await session.scalars(query)).all())

    async def all_findings(
        self, run_id: str, *, domain: Domain | None = None, state: FindingState | None = None
    ) -> AsyncIterator[ReconciliationFindingRow]:
        after = ""
        while True:
            page = await self.findings(run_id, domain=domain, state=state, after=after)
            for row in page:
                yield row
            if len(page) < 500:
                return
            after = page[-1].id

    async def repairs_since(self, domain: Domain, since: datetime) -> frozenset[str]:
        """Keys of ``domain`` some run handed to a workflow after ``since``."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(ReconciliationFindingRow.key)
                .where(ReconciliationFindingRow.domain == str(domain))
                .where(ReconciliationFindingRow.state == str(FindingState.REPAIR_REQUESTED))
                .where(col(ReconciliationFindingRow.found_at) >= since)
            )
            return frozenset(rows.all())
