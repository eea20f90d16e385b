"""The webhook inbox: valid deliveries waiting for the relay to signal Temporal.

A delivery is written ``pending`` together with one ``webhook_inbox`` entry per record it
names, in one transaction (the ingress's one durable write). The relay claims the
deliveries none of whose records has an earlier entry (the head of each record's queue),
signals their workflows, then settles each: its status and its entries gone, in the
transaction that claimed it.

On PostgreSQL the claim locks the deliveries' rows (``FOR UPDATE SKIP LOCKED``) for the
transaction, so relays in any number of replicas take disjoint heads; a delivery behind a
claimed one is not a head until that one is settled and committed, so no replica can
overtake another on one record. A relay that dies mid-claim loses its connection, its
locks with it, and its deliveries stay pending for the next claim. SQLite has no row
locks: there, one relay (one API process) at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from models.tables import (
    DeliveryStatus,
    ExceptionRow,
    ExceptionStatus,
    InboxEntry,
    WebhookDelivery,
)
from models.types import utc_now
from store.store import Store

_DELIVERIES: sa.Table = WebhookDelivery.__table__  # type: ignore[attr-defined]
_ENTRIES: sa.Table = InboxEntry.__table__  # type: ignore[attr-defined]
_TAKEN = [DeliveryStatus.PENDING, DeliveryStatus.ACCEPTED, DeliveryStatus.IGNORED]


def _heads_query(*, locking: bool) -> SelectOfScalar[WebhookDelivery]:
    """Pending deliveries none of whose records has an earlier entry, oldest first
    (built once: the relay asks it every poll)."""
    entry, earlier = sa.orm.aliased(InboxEntry), sa.orm.aliased(InboxEntry)
    behind = (
        select(entry.delivery_id)
        .join(
            earlier,
            sa.and_(
                col(earlier.order_key) == col(entry.order_key),
                col(earlier.seq) < col(entry.seq),
                col(earlier.delivery_id) != col(entry.delivery_id),
            ),
        )
        .scalar_subquery()
    )
    heads = select(InboxEntry.delivery_id).where(col(InboxEntry.delivery_id).not_in(behind))
    query = (
        select(WebhookDelivery)
        .where(
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
            col(WebhookDelivery.id).in_(heads.scalar_subquery()),
        )
        .order_by(col(WebhookDelivery.received_at))
    )
    if locking:
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    return query


def replay_reason(earlier: str) -> str:
    return f"replayed signature: delivery {earlier} was already processed under it"


def _replay_row(delivery: Mapping[str, object], earlier: str) -> dict[str, object]:
    """A copy of a delivery already taken: kept as refused (the sender is answered 409),
    with none of the routing the first one carries."""
    return {
        **delivery,
        "status": DeliveryStatus.REJECTED,
        "status_reason": replay_reason(earlier),
        "signature_digest": None,
        "subject_id": None,
        "workflow_id": None,
        "traceparent": None,
    }


@dataclass(frozen=True)
class Fate:
    """What became of one claimed delivery: settled with a status, or kept pending
    (``status`` None: Temporal unavailable) with the error."""

    delivery: WebhookDelivery
    status: DeliveryStatus | None
    workflow_id: str | None = None
    reason: str | None = None


def _row(fate: Fate, now: datetime) -> dict[str, object]:
    """The columns a fate changes, keyed by the delivery's id (a bulk update's row)."""
    row: dict[str, object] = {
        "id": fate.delivery.id,
        "relay_attempts": fate.delivery.relay_attempts + 1,
        "relay_error": fate.reason,
    }
    if fate.status is not None:
        failed = fate.status == DeliveryStatus.FAILED
        row.update(
            status=fate.status,
            workflow_id=fate.workflow_id,
            status_reason=fate.reason,
            relay_error=fate.reason if failed else None,
            relayed_at=now,
        )
    return row


@dataclass
class Claim:
    """Deliveries one relay holds until the claim's transaction ends."""

    deliveries: list[WebhookDelivery]
    _session: AsyncSession

    async def record(self, fates: Sequence[Fate]) -> None:
        """A settled delivery's entries leave the inbox, so its records' next deliveries
        become heads; a kept one stays at the head of its records' queues. A few
        statements for the whole claim (bulk by primary key), so the write is short:
        on SQLite it holds the one write lock the ingress also needs."""
        now = utc_now()
        rows = [_row(fate, now) for fate in fates]
        for same_columns in (
            [row for row in rows if "status" in row],
            [row for row in rows if "status" not in row],
        ):
            if same_columns:
                await self._session.execute(sa.update(WebhookDelivery), same_columns)
        settled = [fate.delivery.id for fate in fates if fate.status is not None]
        if settled:
            await self._session.execute(
                sa.delete(InboxEntry).where(col(InboxEntry.delivery_id).in_(settled))
            )


class Inbox:
    def __init__(self, store: Store) -> None:
        self._sessions = store.sessions()
        self._arriving: list[
            tuple[Mapping[str, object], Sequence[str], asyncio.Future[str | None]]
        ] = []
        self._writer: asyncio.Task[None] | None = None
        self._heads = _heads_query(locking=store.engine.dialect.name == "postgresql")

    async def take(
        self, delivery: Mapping[str, object], order_keys: Sequence[str] = ()
    ) -> str | None:
        """Store a valid delivery (its columns; ``pending`` with an entry per record in
        ``order_keys``, or ``ignored``), committed before this returns, unless a delivery
        was already taken under its signature digest: then it is stored refused, as a
        replay, and the earlier one's id is returned.

        Deliveries arriving together share one transaction (a group commit): one
        look-up of their digests, one insert per table and one commit, and on SQLite one
        turn of its write lock, for all of them instead of one each; each caller still
        waits for the commit holding its row. The writer is one task per process, so
        two copies arriving at once in one process are told apart too."""
        assert delivery["status"] in (DeliveryStatus.PENDING, DeliveryStatus.IGNORED)
        done: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._arriving.append((delivery, order_keys, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_arrivals())
        return await done

    async def _write_arrivals(self) -> None:
        """Until nothing waits: take everything that arrived, write it in one go."""
        while self._arriving:
            batch, self._arriving = self._arriving, []
            try:
                replays = await self._insert([(delivery, keys) for delivery, keys, _ in batch])
            except Exception as error:  # every caller of the batch answers 500
                for *_, done in batch:
                    if not done.done():
                        done.set_exception(error)
            else:
                for (*_, done), earlier in zip(batch, replays, strict=True):
                    if not done.done():
                        done.set_result(earlier)

    async def _insert(
        self, batch: Sequence[tuple[Mapping[str, object], Sequence[str]]]
    ) -> list[str | None]:
        """Plain inserts, no ORM objects: this is the webhook's hot path. Per delivery,
        the id of the earlier one it replays, if any."""
        async with self._sessions() as session:
            taken = await self._taken_under(
                session, {d.get("signature_digest") for d, _ in batch} - {None}
            )
            rows: list[dict[str, object]] = []
            entries: list[dict[str, object]] = []
            replays: list[str | None] = []
            for delivery, keys in batch:
                digest = delivery.get("signature_digest")
                earlier = taken.get(str(digest)) if digest is not None else None
                replays.append(earlier)
                if earlier is not None:
                    rows.append(_replay_row(delivery, earlier))
                    continue
                if digest is not None:
                    taken[str(digest)] = str(delivery["id"])
                rows.append(dict(delivery))
                if delivery["status"] == DeliveryStatus.PENDING:
                    entries.extend(
                        {"delivery_id": delivery["id"], "order_key": key}
                        for key in dict.fromkeys(keys)
                    )
            # One statement per set of columns given (an executemany takes one shape);
            # the deliveries' rows before their entries (they name them).
            shapes: dict[frozenset[str], list[dict[str, object]]] = {}
            for row in rows:
                shapes.setdefault(frozenset(row), []).append(row)
            for same_shape in shapes.values():
                await session.execute(sa.insert(_DELIVERIES), same_shape)
            if entries:
                await session.execute(sa.insert(_ENTRIES), entries)
            await session.commit()
        return replays

    @staticmethod
    async def _taken_under(session: AsyncSession, digests: set[object]) -> dict[str, str]:
        """Digest -> id of the delivery taken under it (pending, accepted or ignored).
        One refused, or one Temporal refused (failed), does not count: the sender's
        retry of it is taken."""
        if not digests:
            return {}
        query = sa.select(_DELIVERIES.c.signature_digest, _DELIVERIES.c.id).where(
            _DELIVERIES.c.signature_digest.in_(digests),
            _DELIVERIES.c.status.in_(_TAKEN),
        )
        return {str(digest): str(id_) for digest, id_ in (await session.execute(query)).all()}

    @asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[Claim]:
        """Up to ``limit`` deliveries at the head of their records' queues, oldest
        first; what the caller settles or keeps is committed when the block ends (an
        exception rolls all of it back: the deliveries stay pending)."""
        query = self._heads.limit(limit)
        async with self._sessions() as session, session.begin():
            rows = list((await session.scalars(query)).all())
            yield Claim(rows, session)

    async def requeue(
        self, delivery_id: str, order_keys: Callable[[WebhookDelivery], Sequence[str]]
    ) -> bool:
        """An operator's retry of a delivery the relay could not signal: pending again,
        at the back of its records' queues. False when it was not failed."""
        async with self._sessions() as session, session.begin():
            delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
            if delivery is None or delivery.status != DeliveryStatus.FAILED:
                return False
            delivery.status = DeliveryStatus.PENDING
            session.add_all(
                InboxEntry(delivery_id=delivery.id, order_key=key)
                for key in dict.fromkeys(order_keys(delivery))
            )
        return True

    async def resolve_parked(self, exception_ids: Sequence[str]) -> None:
        """The exceptions of deliveries the relay has now signalled (after a retry)."""
        if not exception_ids:
            return
        async with self._sessions() as session:
            await session.execute(
                sa.update(ExceptionRow)
                .where(
                    col(ExceptionRow.id).in_(list(exception_ids)),
                    col(ExceptionRow.status) != ExceptionStatus.RESOLVED,
                )
                .values(status=ExceptionStatus.RESOLVED, resolved_at=utc_now())
            )
            await session.commit()

    async def depth(self) -> tuple[int, datetime | None]:
        """Deliveries pending, and when the oldest of them was received."""
        async with self._sessions() as session:
            count, oldest = (
                await session.execute(
                    select(sa.func.count(), sa.func.min(col(WebhookDelivery.received_at))).where(
                        col(WebhookDelivery.status) == DeliveryStatus.PENDING
                    )
                )
            ).one()
        return int(count), oldest
