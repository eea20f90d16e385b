"""The inbox's group commit: deliveries arriving together share one transaction, and each
caller returns only once its row is committed, or with the batch's error."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from models.tables import DeliveryStatus, InboxEntry, WebhookDelivery
from models.types import utc_now
from store import Store
from store.inbox import Inbox


def _pending(delivery_id: str | None = None) -> dict[str, object]:
    return {
        "id": delivery_id or uuid.uuid4().hex,
        "source": "salesforce",
        "raw_body": b"{}",
        "correlation_id": uuid.uuid4().hex,
        "received_at": utc_now(),
        "signature_valid": True,
        "status": DeliveryStatus.PENDING,
    }


async def test_deliveries_arriving_together_are_all_committed_with_their_entries(
    store: Store,
) -> None:
    inbox = Inbox(store)
    rows = [_pending() for _ in range(40)]
    await asyncio.gather(*(inbox.take(row, [f"006{n % 5}", "001A"]) for n, row in enumerate(rows)))
    async with store.sessions()() as session:
        stored = {d.id for d in await session.scalars(select(WebhookDelivery))}
        entries = list(await session.scalars(select(InboxEntry)))
    assert stored == {row["id"] for row in rows}
    assert len(entries) == 2 * len(rows)
    assert (await inbox.depth())[0] == len(rows)


async def test_a_batch_that_cannot_be_written_fails_every_caller_and_stores_none(
    store: Store,
) -> None:
    inbox = Inbox(store)
    twice = uuid.uuid4().hex  # one id twice in one batch: the insert is refused
    answers = await asyncio.gather(
        inbox.take(_pending(twice), ["006A"]),
        inbox.take(_pending(twice), ["006A"]),
        inbox.take(_pending(), ["006B"]),
        return_exceptions=True,
    )
    assert all(isinstance(answer, IntegrityError) for answer in answers), answers
    assert (await inbox.depth())[0] == 0
    # The writer is not stuck: the next delivery is written.
    await inbox.take(_pending(), ["006C"])
    assert (await inbox.depth())[0] == 1


@pytest.mark.parametrize("waiting", [1, 3])
async def test_a_caller_returns_only_after_its_row_is_committed(store: Store, waiting: int) -> None:
    inbox = Inbox(store)
    rows = [_pending() for _ in range(waiting)]
    for row in rows:
        await inbox.take(row, ["006D"])
        async with store.sessions()() as session:  # another session sees it at once
            assert await session.get(WebhookDelivery, row["id"]) is not None
