"""Operators' personal API keys: only their hashes, looked up on every request.

No cache: a key revoked through any process (the CLI, another API replica) is refused
by every replica from its very next request, because each reads this table each time.
A primary-key lookup costs far less than the request it guards.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import col, select

from models.tables import OperatorKeyRow
from models.types import utc_now
from store.store import Store


class OperatorKeys:
    def __init__(self, store: Store) -> None:
        self._sessions = store.sessions()

    async def add(self, row: OperatorKeyRow) -> None:
        async with self._sessions() as session:
            session.add(row)
            await session.commit()

    async def get(self, key_id: str) -> OperatorKeyRow | None:
        async with self._sessions() as session:
            return await session.get(OperatorKeyRow, key_id)

    async def active(self, operator: str | None = None) -> Sequence[OperatorKeyRow]:
        """Keys not revoked, oldest first; one operator's when ``operator`` is given."""
        query = select(OperatorKeyRow).where(col(OperatorKeyRow.revoked_at).is_(None))
        if operator is not None:
            query = query.where(OperatorKeyRow.operator == operator)
        async with self._sessions() as session:
            return (await session.scalars(query.order_by(col(OperatorKeyRow.created_at)))).all()

    async def every(self) -> Sequence[OperatorKeyRow]:
        """Every key ever issued, revoked ones too, oldest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(OperatorKeyRow).order_by(col(OperatorKeyRow.created_at))
            )
            return rows.all()

    async def revoke(self, operator_or_key_id: str, revoked_by: str) -> Sequence[OperatorKeyRow]:
        """Revoke the operator's live keys (or the one key with that id); the keys
        revoked, none when nothing live matched."""
        matches = (col(OperatorKeyRow.operator) == operator_or_key_id) | (
            col(OperatorKeyRow.key_id) == operator_or_key_id
        )
        live = col(OperatorKeyRow.revoked_at).is_(None)
        async with self._sessions() as session:
            key_ids = (
                await session.scalars(select(OperatorKeyRow.key_id).where(matches, live))
            ).all()
            if not key_ids:
                return []
            chosen = col(OperatorKeyRow.key_id).in_(list(key_ids))
            await session.execute(
                sa.update(OperatorKeyRow)
                .where(chosen, live)
                .values(revoked_at=utc_now(), revoked_by=revoked_by)
            )
            await session.commit()
            return (await session.scalars(select(OperatorKeyRow).where(chosen))).all()
