"""Syncline's own database, behind one async session factory.

SQLite through aiosqlite is the embedded default; PostgreSQL through asyncpg is chosen
by URL. Writes that must happen once (ledger events, identity links) are inserts that
ignore a conflict, so a retried activity cannot double them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import col, select

from models.erp import SalesOrder, SalesOrderLine
from models.events import BusinessEvent, EventType
from models.identity import ObjectType
from models.tables import (
    DealOrderRow,
    ExceptionRow,
    ExceptionStatus,
    IdentityLinkRow,
    LedgerEvent,
    StreamPositionRow,
    WebhookDelivery,
)
from models.types import utc_now
from store.migrate import migrate


def _prepare_sqlite_file(url: str) -> None:
    database = sa.engine.make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str) -> AsyncEngine:
    """An engine tuned for the backend: WAL and a busy timeout on SQLite, because the
    API and the worker are separate processes writing to the same file."""
    if url.startswith("sqlite"):
        _prepare_sqlite_file(url)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(create_engine(url))

    async def migrate(self) -> None:
        """Bring the database to the newest schema revision (``store/migrate.py``)."""
        await migrate(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()

    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """For the few modules that keep their own tables (reconciliation runs)."""
        return self._sessions

    def _dialect(self) -> Any:
        return postgresql if self.engine.dialect.name == "postgresql" else sqlite

    def _insert_ignoring_conflicts(self, table: Any) -> Any:
        return self._dialect().insert(table).on_conflict_do_nothing()

    # -- webhook inbox -----------------------------------------------------------------

    async def record_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        async with self._sessions() as session:
            session.add(delivery)
            await session.commit()
        return delivery

    async def get_delivery(self, delivery_id: str) -> WebhookDelivery | None:
        async with self._sessions() as session:
            return await session.get(WebhookDelivery, delivery_id)

    async def deliveries_for(self, subject_id: str) -> Sequence[WebhookDelivery]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.subject_id == subject_id)
                .order_by(col(WebhookDelivery.received_at))
            )
            return rows.all()

    # -- event ledger (append-only: there is no update or delete) ---------------------

    async def append_event(self, event: BusinessEvent) -> bool:
        """Append once. Returns False when the same fact was already recorded."""
        async with self._sessions() as session:
            result = await session.execute(self._append_statement(event))
            await session.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def _append_statement(self, event: BusinessEvent) -> Any:
        row = LedgerEvent(**event.model_dump(mode="python"))
        values = {c.name: getattr(row, c.name) for c in LedgerEvent.__table__.columns}  # type: ignore[attr-defined]
        return self._insert_ignoring_conflicts(LedgerEvent).values(**values)

    async def get_event(self, event_id: uuid.UUID) -> LedgerEvent | None:
        async with self._sessions() as session:
            return await session.get(LedgerEvent, event_id)

    async def event_times(
        self, event_type: str, start: datetime, end: datetime
    ) -> list[tuple[str | None, datetime, datetime]]:
        """(subject, occurred_at, recorded_at) of each event of a type that occurred in
        [start, end): the times alone, for gauges that must not load every payload."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(
                    LedgerEvent.subject_id,
                    col(LedgerEvent.occurred_at),
                    col(LedgerEvent.recorded_at),
                )
                .where(LedgerEvent.event_type == event_type)
                .where(col(LedgerEvent.occurred_at) >= start)
                .where(col(LedgerEvent.occurred_at) < end)
            )
            return [(subject, occurred, recorded) for subject, occurred, recorded in rows.all()]

    async def newest_event_times(self) -> dict[str, datetime]:
        """When the newest fact of each event type reached the ledger."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(LedgerEvent.event_type, sa.func.max(col(LedgerEvent.recorded_at))).group_by(
                    LedgerEvent.event_type
                )
            )
            return {str(kind): when for kind, when in rows.all() if when is not None}

    async def events_for(self, subject_id: str) -> Sequence[LedgerEvent]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(LedgerEvent)
                .where(LedgerEvent.subject_id == subject_id)
                .order_by(col(LedgerEvent.occurred_at), col(LedgerEvent.recorded_at))
            )
            return rows.all()

    async def events_between(
        self, event_type: str, start: datetime, end: datetime
    ) -> Sequence[LedgerEvent]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(LedgerEvent)
                .where(LedgerEvent.event_type == event_type)
                .where(col(LedgerEvent.occurred_at) >= start)
                .where(col(LedgerEvent.occurred_at) < end)
                .order_by(col(LedgerEvent.occurred_at))
            )
            return rows.all()

    async def events_from_source(
        self, event_type: str, source_system: str, source_id: str
    ) -> Sequence[LedgerEvent]:
        """The facts one ERP record has produced, e.g. the payments on one invoice."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(LedgerEvent)
                .where(LedgerEvent.event_type == event_type)
                .where(LedgerEvent.source_system == source_system)
                .where(LedgerEvent.source_id == source_id)
            )
            return rows.all()

    async def paid_to_date(self, source_system: str, invoice_id: str) -> Decimal:
        """How much of an invoice the ledger has seen paid (its newest ``paid_to_date``)."""
        return max(
            (
                Decimal(str(row.payload.get("paid_to_date", "0")))
                for row in await self.events_from_source(
                    EventType.PAYMENT_APPLIED, source_system, invoice_id
                )
            ),
            default=Decimal(0),
        )

    async def events_from_sources(
        self, source_system: str, source_ids: Sequence[str], event_types: Sequence[str]
    ) -> Sequence[LedgerEvent]:
        """The facts a page of ERP records produced (reconciliation reads them together)."""
        if not source_ids:
            return []
        async with self._sessions() as session:
            rows = await session.scalars(
                select(LedgerEvent)
                .where(LedgerEvent.source_system == source_system)
                .where(col(LedgerEvent.source_id).in_(list(source_ids)))
                .where(col(LedgerEvent.event_type).in_(list(event_types)))
            )
            return rows.all()

    async def subjects_with_events(
        self,
        event_type: str,
        after: str | None,
        limit: int,
        since: datetime | None = None,
    ) -> list[str]:
        """Subjects holding a fact of this type (that occurred since ``since``, when
        given) above ``after``, in order, at most ``limit``: a keyset over the ledger's
        subjects (reconciliation pages opportunities by it). One type, so the index on
        (type, subject) is read in order and the page costs its own rows only."""
        query = (
            select(LedgerEvent.subject_id)
            .where(LedgerEvent.event_type == event_type)
            .group_by(col(LedgerEvent.subject_id))
            .order_by(col(LedgerEvent.subject_id))
            .limit(limit)
        )
        if after is not None:
            query = query.where(col(LedgerEvent.subject_id) > after)
        if since is not None:
            query = query.where(col(LedgerEvent.occurred_at) >= since)
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())

    async def events_for_subjects(
        self, subject_ids: Sequence[str], event_types: Sequence[str]
    ) -> Sequence[LedgerEvent]:
        """The facts of these types about a page of subjects."""
        if not subject_ids:
            return []
        async with self._sessions() as session:
            rows = await session.scalars(
                select(LedgerEvent)
                .where(col(LedgerEvent.subject_id).in_(list(subject_ids)))
                .where(col(LedgerEvent.event_type).in_(list(event_types)))
                .order_by(col(LedgerEvent.occurred_at), col(LedgerEvent.recorded_at))
            )
            return rows.all()

    async def existing_event_ids(self, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not event_ids:
            return set()
        async with self._sessions() as session:
            rows = await session.scalars(
                select(LedgerEvent.event_id).where(col(LedgerEvent.event_id).in_(list(event_ids)))
            )
            return set(rows.all())

    async def count_events(self, event_type: str, subject_id: str | None = None) -> int:
        async with self._sessions() as session:
            query = (
                select(sa.func.count())
                .select_from(LedgerEvent)
                .where(LedgerEvent.event_type == event_type)
            )
            if subject_id is not None:
                query = query.where(LedgerEvent.subject_id == subject_id)
            return int((await session.execute(query)).scalar_one())

    # -- identity map ----------------------------------------------------------------

    async def link(self, object_type: ObjectType, crm_id: str, erp_id: str) -> None:
        await self.link_all([(object_type, crm_id, erp_id)])

    async def link_all(self, links: Sequence[tuple[ObjectType, str, str]]) -> None:
        """Several links in one transaction (one commit, one turn of SQLite's write
        lock); first wins for each, as for ``link``."""
        if not links:
            return
        async with self._sessions() as session:
            for object_type, crm_id, erp_id in links:
                await session.execute(self._link_statement(object_type, crm_id, erp_id))
            await session.commit()

    def _link_statement(self, object_type: ObjectType, crm_id: str, erp_id: str) -> Any:
        return self._insert_ignoring_conflicts(IdentityLinkRow).values(
            object_type=str(object_type), crm_id=crm_id, erp_id=erp_id, linked_at=utc_now()
        )

    async def save_ordered(
        self, crm_opportunity_id: str, erp_order_id: str, lines: Sequence[SalesOrderLine]
    ) -> None:
        """What the deal now asks ``erp_order_id`` to say (its placement, or its
        amendment): the newest ask replaces the one before."""
        ask = self._ask(crm_opportunity_id, lines)
        # One statement, not a read then a write: an activity's retry may overlap the
        # attempt it replaces, on another worker.
        statement = (
            self._dialect()
            .insert(DealOrderRow)
            .values(erp_order_id=erp_order_id, **ask)
            .on_conflict_do_update(index_elements=["erp_order_id"], set_=ask)
        )
        async with self._sessions() as session:
            await session.execute(statement)
            await session.commit()

    async def ordered(self, erp_order_id: str) -> list[SalesOrderLine] | None:
        """What the deal last asked ``erp_order_id`` to say, or None when no deal asked
        (an order placed before Syncline kept this)."""
        async with self._sessions() as session:
            return _lines(await session.get(DealOrderRow, erp_order_id))

    async def record_placement(
        self, crm_opportunity_id: str, order: SalesOrder, accepted: BusinessEvent | None
    ) -> tuple[list[SalesOrderLine] | None, bool]:
        """A placed order, in one transaction: its link to the opportunity, the order as
        placed as what the deal asks of it unless a run asked before, and ``accepted``
        (its acceptance fact, or None while it awaits approval). Returns the earlier
        ask, if any, and whether the fact was new.

        One transaction instead of four: each of a deal's commits is a turn of
        SQLite's single write lock, which every process of the stack queues for."""
        ask = self._ask(crm_opportunity_id, order.lines)
        async with self._sessions() as session:
            # The read first: on SQLite the write lock is taken at the first write and
            # held to the commit, so nothing but writes should come after it.
            before = _lines(await session.get(DealOrderRow, order.id))
            await session.execute(
                self._link_statement(ObjectType.SALES_ORDER, crm_opportunity_id, order.id)
            )
            if before is None:
                # Ignoring a conflict: an overlapping attempt's ask is the same one.
                await session.execute(
                    self._dialect()
                    .insert(DealOrderRow)
                    .values(erp_order_id=order.id, **ask)
                    .on_conflict_do_nothing()
                )
            appended = False
            if accepted is not None:
                result = await session.execute(self._append_statement(accepted))
                appended = bool(result.rowcount)  # type: ignore[attr-defined]
            await session.commit()
        return before, appended

    @staticmethod
    def _ask(crm_opportunity_id: str, lines: Sequence[SalesOrderLine]) -> dict[str, Any]:
        return {
            "crm_opportunity_id": crm_opportunity_id,
            "lines": [line.model_dump(mode="json") for line in lines],
            "ordered_at": utc_now(),
        }

    async def stream_position(self, stream_id: str) -> str | None:
        async with self._sessions() as session:
            row = await session.get(StreamPositionRow, stream_id)
            return None if row is None else row.replay_id

    async def save_stream_position(self, stream_id: str, replay_id: str) -> None:
        async with self._sessions() as session:
            await session.merge(
                StreamPositionRow(stream_id=stream_id, replay_id=replay_id, saved_at=utc_now())
            )
            await session.commit()

    async def erp_ids_for(self, object_type: ObjectType, crm_ids: Sequence[str]) -> dict[str, str]:
        return (await self.links_of({object_type: crm_ids})).get(object_type, {})

    async def links_of(
        self, wanted: Mapping[ObjectType, Sequence[str]]
    ) -> dict[ObjectType, dict[str, str]]:
        """The ERP ids the map holds for several kinds of CRM ids, in one read: by kind,
        then by CRM id (a kind with none found is absent)."""
        asked = [
            sa.and_(
                col(IdentityLinkRow.object_type) == str(object_type),
                col(IdentityLinkRow.crm_id).in_(list(crm_ids)),
            )
            for object_type, crm_ids in wanted.items()
            if crm_ids
        ]
        if not asked:
            return {}
        async with self._sessions() as session:
            rows = await session.scalars(select(IdentityLinkRow).where(sa.or_(*asked)))
            found: dict[ObjectType, dict[str, str]] = {}
            for row in rows.all():
                found.setdefault(ObjectType(row.object_type), {})[row.crm_id] = row.erp_id
            return found

    async def forget_link(self, object_type: ObjectType, crm_id: str) -> None:
        """Drop a stale link (the ERP record it named is gone or inactive)."""
        async with self._sessions() as session:
            await session.execute(
                sa.delete(IdentityLinkRow)
                .where(col(IdentityLinkRow.object_type) == str(object_type))
                .where(col(IdentityLinkRow.crm_id) == crm_id)
            )
            await session.commit()

    # -- exceptions ------------------------------------------------------------------

    async def open_exception(self, row: ExceptionRow) -> None:
        """Open, or reopen after a failed retry, the exception with this id.

        The workflow derives the id deterministically, so a retried local activity
        lands on the same row; reopening keeps the retry count.
        """
        values = {c.name: getattr(row, c.name) for c in ExceptionRow.__table__.columns}  # type: ignore[attr-defined]
        statement = self._dialect().insert(ExceptionRow).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["id"],
            set_={
                "status": ExceptionStatus.OPEN,
                "message": statement.excluded.message,
                "details": statement.excluded.details,
                "resolved_at": None,
            },
        )
        async with self._sessions() as session:
            await session.execute(statement)
            await session.commit()

    async def resolve_exception(self, exception_id: str) -> None:
        async with self._sessions() as session:
            await session.execute(
                sa.update(ExceptionRow)
                .where(col(ExceptionRow.id) == exception_id)
                .values(status=ExceptionStatus.RESOLVED, resolved_at=utc_now())
            )
            await session.commit()

    async def mark_retry_requested(self, exception_id: str) -> None:
        """Count the retry; a run quick enough to resolve the exception before this
        write keeps it resolved (the retry signal goes first, then this)."""
        row = col(ExceptionRow.id) == exception_id
        async with self._sessions() as session:
            await session.execute(
                sa.update(ExceptionRow)
                .where(row)
                .values(retry_count=col(ExceptionRow.retry_count) + 1)
            )
            await session.execute(
                sa.update(ExceptionRow)
                .where(row, col(ExceptionRow.status) != ExceptionStatus.RESOLVED)
                .values(status=ExceptionStatus.RETRY_REQUESTED)
            )
            await session.commit()

    async def get_exception(self, exception_id: str) -> ExceptionRow | None:
        async with self._sessions() as session:
            return await session.get(ExceptionRow, exception_id)

    async def list_exceptions(
        self,
        *,
        status: ExceptionStatus | None = None,
        subject_id: str | None = None,
        id_prefix: str | None = None,
        subject_ids: Sequence[str] | None = None,
    ) -> Sequence[ExceptionRow]:
        async with self._sessions() as session:
            query = select(ExceptionRow).order_by(col(ExceptionRow.opened_at).desc())
            if status is not None:
                query = query.where(ExceptionRow.status == status)
            if subject_id is not None:
                query = query.where(ExceptionRow.subject_id == subject_id)
            if subject_ids is not None:
                query = query.where(col(ExceptionRow.subject_id).in_(list(subject_ids)))
            if id_prefix is not None:
                query = query.where(col(ExceptionRow.id).startswith(id_prefix))
            return (await session.scalars(query)).all()

    async def delivery_counts_by_hour(self, since: datetime) -> list[tuple[datetime, str, int]]:
        """Webhook deliveries received since ``since``, counted per UTC hour and status
        (only hours that had any), for the operator console's chart."""
        received = col(WebhookDelivery.received_at)
        if self.engine.dialect.name == "postgresql":
            hour = sa.func.to_char(sa.func.timezone("UTC", received), "YYYY-MM-DD HH24")
        else:  # SQLite keeps UTC wall time as text
            hour = sa.func.strftime("%Y-%m-%d %H", received)
        status = col(WebhookDelivery.status)
        query = (
            sa.select(hour, status, sa.func.count()).where(received >= since).group_by(hour, status)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            (datetime.strptime(stamp, "%Y-%m-%d %H").replace(tzinfo=UTC), str(kind), count)
            for stamp, kind, count in rows
        ]


def new_id() -> str:
    return uuid.uuid4().hex


def _lines(row: DealOrderRow | None) -> list[SalesOrderLine] | None:
    return None if row is None else [SalesOrderLine.model_validate(line) for line in row.lines]
