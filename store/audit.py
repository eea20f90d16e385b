"""The audit trail: one row per operator action or refused attempt, appended, never changed.

It is also the lock-out's memory: an address's (or an operator's) recent refusals are
counted here, so every API replica sees the same count and a restart forgets nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from models.operators import AuditOutcome
from models.tables import AuditRow
from store.store import Store


@dataclass(frozen=True)
class AuditQuery:
    """Filters of ``GET /api/audit``; every one optional, all of them ANDed."""

    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    target: str | None = None
    subject_id: str | None = None
    address: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditTrail:
    def __init__(self, store: Store) -> None:
        self._sessions = store.sessions()

    async def append(self, row: AuditRow) -> AuditRow:
        async with self._sessions() as session:
            session.add(row)
            await session.commit()
        return row

    async def page(
        self, query: AuditQuery, *, before: int | None = None, limit: int = 100
    ) -> Sequence[AuditRow]:
        """Newest first; ``before`` is the last id of the previous page (keyset paging:
        rows appended meanwhile never shift a page)."""
        statement = select(AuditRow).order_by(col(AuditRow.id).desc()).limit(limit)
        for column, value in (
            (AuditRow.actor, query.actor),
            (AuditRow.action, query.action),
            (AuditRow.outcome, query.outcome),
            (AuditRow.target, query.target),
            (AuditRow.subject_id, query.subject_id),
            (AuditRow.address, query.address),
        ):
            if value is not None:
                statement = statement.where(col(column) == value)
        if query.since is not None:
            statement = statement.where(col(AuditRow.at) >= query.since)
        if query.until is not None:
            statement = statement.where(col(AuditRow.at) < query.until)
        if before is not None:
            statement = statement.where(col(AuditRow.id) < before)
        async with self._sessions() as session:
            return (await session.scalars(statement)).all()

    async def about(
        self, *, targets: Sequence[str] = (), subject_id: str | None = None
    ) -> Sequence[AuditRow]:
        """What operators did to these records (or to anything of this subject), oldest
        first: an exception's history, a deal's timeline."""
        conditions: list[sa.ColumnElement[bool]] = []
        if targets:
            conditions.append(col(AuditRow.target).in_(list(targets)))
        if subject_id is not None:
            conditions.append(col(AuditRow.subject_id) == subject_id)
        if not conditions:
            return []
        async with self._sessions() as session:
            rows = await session.scalars(
                select(AuditRow).where(sa.or_(*conditions)).order_by(col(AuditRow.id))
            )
            return rows.all()

    async def recent_refusals(
        self,
        since: datetime,
        limit: int,
        *,
        address: str | None = None,
        actor: str | None = None,
        status: int | None = None,
    ) -> list[datetime]:
        """When the newest ``limit`` refusals since ``since`` happened, newest first: from
        one address, or to one operator (``status`` narrows to e.g. 403s)."""
        statement = (
            select(col(AuditRow.at))
            .where(col(AuditRow.outcome) == AuditOutcome.REFUSED, col(AuditRow.at) >= since)
            .order_by(col(AuditRow.at).desc())
            .limit(limit)
        )
        if address is not None:
            statement = statement.where(col(AuditRow.address) == address)
        if actor is not None:
            statement = statement.where(col(AuditRow.actor) == actor)
        if status is not None:
            statement = statement.where(col(AuditRow.status) == status)
        async with self._sessions() as session:
            return list((await session.scalars(statement)).all())
