"""The store on both backends: append-once ledger, identity map, exceptions, inbox."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from models.erp import SalesOrder, SalesOrderLine
from models.events import BusinessEvent, EventType, SourceSystem, event_id_for
from models.identity import ObjectType
from models.tables import DeliveryStatus, ExceptionRow, ExceptionStatus, WebhookDelivery
from models.types import Money
from store import Store
from store.inbox import Inbox


def _event(source_id: str, occurred_at: datetime | None = None) -> BusinessEvent:
    return BusinessEvent(
        event_id=event_id_for(EventType.ORDER_ACCEPTED, SourceSystem.NETSUITE, source_id),
        event_type=EventType.ORDER_ACCEPTED,
        occurred_at=occurred_at or datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        source_system=SourceSystem.NETSUITE,
        source_id=source_id,
        subject_id=f"006{source_id}",
        correlation_id="corr",
        payload={"total": "1234.56", "currency": "USD"},
    )


async def test_the_same_fact_is_appended_once_even_concurrently(store: Store) -> None:
    event = _event("42")
    results = await asyncio.gather(*(store.append_event(event) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert await store.count_events(EventType.ORDER_ACCEPTED) == 1


async def test_ledger_times_come_back_aware_utc_and_ordered(store: Store) -> None:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for offset in (3, 1, 2):
        await store.append_event(_event(str(offset), base + timedelta(days=offset)))
    events = await store.events_between(EventType.ORDER_ACCEPTED, base, base + timedelta(days=10))
    assert [e.source_id for e in events] == ["1", "2", "3"]
    assert all(
        e.occurred_at.tzinfo is not None and e.occurred_at.utcoffset() == timedelta(0)
        for e in events
    )
    assert events[0].payload["total"] == "1234.56"


async def test_subjects_page_by_id_and_their_facts_come_together(store: Store) -> None:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for offset in (5, 1, 3, 2, 4):
        await store.append_event(_event(str(offset), base + timedelta(days=offset)))
        # A second fact of the same subject is still one subject.
        again = _event(str(offset), base + timedelta(days=offset))
        await store.append_event(again.model_copy(update={"event_id": uuid.uuid4()}))
    kinds = [EventType.ORDER_ACCEPTED]
    kind = EventType.ORDER_ACCEPTED
    assert await store.subjects_with_events(kind, None, 2) == ["0061", "0062"]
    assert await store.subjects_with_events(kind, "0062", 2) == ["0063", "0064"]
    assert await store.subjects_with_events(kind, "0064", 2) == ["0065"]
    since = base + timedelta(days=4)
    assert await store.subjects_with_events(kind, None, 9, since) == ["0064", "0065"]
    assert await store.subjects_with_events(EventType.INVOICE_POSTED, None, 9) == []
    facts = await store.events_for_subjects(["0062", "0065"], kinds)
    assert sorted(e.subject_id for e in facts) == ["0062", "0062", "0065", "0065"]


async def test_identity_links_are_idempotent_and_looked_up_in_bulk(store: Store) -> None:
    await store.link(ObjectType.PRODUCT, "SKU-1", "11")
    await store.link(ObjectType.PRODUCT, "SKU-1", "11")
    await store.link(ObjectType.PRODUCT, "SKU-2", "12")
    assert await store.erp_ids_for(ObjectType.PRODUCT, ["SKU-1", "SKU-2", "SKU-3"]) == {
        "SKU-1": "11",
        "SKU-2": "12",
    }
    await store.forget_link(ObjectType.PRODUCT, "SKU-1")
    assert await store.erp_ids_for(ObjectType.PRODUCT, ["SKU-1"]) == {}


async def test_links_of_several_kinds_come_in_one_read(store: Store) -> None:
    await store.link_all(
        [
            (ObjectType.ORDER_CUSTOMER, "001A", "7"),
            (ObjectType.CUSTOMER, "001A", "7"),
            (ObjectType.PRODUCT, "SKU-1", "11"),
        ]
    )
    # First wins, in a batch too: a second link of the same CRM id changes nothing.
    await store.link_all([(ObjectType.PRODUCT, "SKU-1", "99"), (ObjectType.PRODUCT, "SKU-2", "12")])
    found = await store.links_of(
        {
            ObjectType.ORDER_CUSTOMER: ["001A", "001B"],
            ObjectType.PRODUCT: ["SKU-1", "SKU-2", "SKU-3"],
            ObjectType.SALES_ORDER: ["006A"],
            ObjectType.CUSTOMER: [],
        }
    )
    assert found == {
        ObjectType.ORDER_CUSTOMER: {"001A": "7"},
        ObjectType.PRODUCT: {"SKU-1": "11", "SKU-2": "12"},
    }
    assert await store.links_of({ObjectType.PRODUCT: []}) == {}


async def test_exception_lifecycle(store: Store) -> None:
    row = ExceptionRow(
        id="wf:run:1",
        workflow_id="wf",
        subject_id="006x",
        reason="unknown_sku",
        step="create_order",
        message="no active ERP item for SKU X",
        correlation_id="c",
    )
    await store.open_exception(row)
    await store.open_exception(row.model_copy())  # a retried local activity
    assert [r.id for r in await store.list_exceptions(status=ExceptionStatus.OPEN)] == ["wf:run:1"]
    await store.mark_retry_requested("wf:run:1")
    await store.resolve_exception("wf:run:1")
    resolved = await store.get_exception("wf:run:1")
    assert resolved is not None
    assert resolved.status == ExceptionStatus.RESOLVED and resolved.retry_count == 1
    assert resolved.resolved_at is not None and resolved.resolved_at.tzinfo is not None


async def test_deliveries_keep_the_raw_bytes(store: Store) -> None:
    raw = b'{"not": "valid json"' + bytes([0xFF])
    delivery = await store.record_delivery(
        WebhookDelivery(
            source="salesforce",
            raw_body=raw,
            correlation_id=uuid.uuid4().hex,
            status=DeliveryStatus.REJECTED,
            status_reason="malformed JSON",
        )
    )
    stored = await store.get_delivery(delivery.id)
    assert stored is not None and stored.raw_body == raw
    assert stored.status == DeliveryStatus.REJECTED and stored.status_reason == "malformed JSON"
    assert stored.received_at.tzinfo is not None


async def test_only_a_processed_delivery_makes_its_signature_a_replay(store: Store) -> None:
    def signed(status: DeliveryStatus, digest: str) -> WebhookDelivery:
        return WebhookDelivery(
            source="salesforce",
            raw_body=b"{}",
            correlation_id=uuid.uuid4().hex,
            status=status,
            signature_valid=True,
            signature_digest=digest,
        )

    def arriving(digest: str) -> dict[str, object]:
        row = signed(DeliveryStatus.PENDING, digest)
        return {c.name: getattr(row, c.name) for c in WebhookDelivery.__table__.columns}  # type: ignore[attr-defined]

    inbox = Inbox(store)
    # Temporal refused it for good (failed): the sender's retry is welcome.
    await store.record_delivery(signed(DeliveryStatus.FAILED, "d1"))
    assert await inbox.take(arriving("d1"), ["006A"]) is None
    # Taken (pending, then accepted): the same request again is a replay, kept refused.
    processed = await store.record_delivery(signed(DeliveryStatus.ACCEPTED, "d2"))
    replay = arriving("d2")
    assert await inbox.take(replay, ["006A"]) == processed.id
    kept = await store.get_delivery(str(replay["id"]))
    assert kept is not None and kept.status == DeliveryStatus.REJECTED
    assert kept.status_reason and processed.id in kept.status_reason
    # Two copies arriving together: the first is taken, the second is its replay.
    first, second = arriving("d3"), arriving("d3")
    answers = await asyncio.gather(inbox.take(first, ["006B"]), inbox.take(second, ["006B"]))
    assert answers == [None, first["id"]]
    assert (await inbox.depth())[0] == 2  # d1's and the first d3


async def test_processes_starting_together_both_get_the_schema(tmp_path: Path) -> None:
    """The API and a worker start at once on one SQLite file: neither may fail."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    stores = [Store.from_url(url) for _ in range(4)]
    try:
        await asyncio.gather(*(store.migrate() for store in stores))
        assert await stores[0].count_events(EventType.ORDER_ACCEPTED) == 0
    finally:
        for store in stores:
            await store.close()


async def test_a_retry_counted_after_the_run_resolved_keeps_it_resolved(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'race.db'}")
    await store.migrate()
    await store.open_exception(
        ExceptionRow(
            id="x1",
            workflow_id="wf",
            subject_id="s",
            reason="ownership_conflict",
            step="ownership",
            message="m",
            correlation_id="c",
        )
    )
    await store.resolve_exception("x1")  # the run was faster than the API's write
    await store.mark_retry_requested("x1")
    row = await store.get_exception("x1")
    assert row is not None and row.status == ExceptionStatus.RESOLVED and row.retry_count == 1
    await store.close()


async def test_what_a_deal_asked_of_its_order_is_its_newest_ask(store: Store) -> None:
    def line(quantity: str) -> SalesOrderLine:
        return SalesOrderLine(
            item_id="11",
            sku="SL-SEAT-PRO",
            quantity=Decimal(quantity),
            rate=Money(amount=Decimal("1250.50"), currency="USD"),
        )

    assert await store.ordered("SO-1") is None
    await store.save_ordered("006A", "SO-1", [line("1")])
    await store.save_ordered("006A", "SO-1", [line("2")])
    await store.save_ordered("006B", "SO-2", [line("3")])
    assert await store.ordered("SO-1") == [line("2")]
    assert await store.ordered("SO-2") == [line("3")]
    # Overlapping attempts of one activity: each a whole ask, none an error.
    await asyncio.gather(*(store.save_ordered("006C", "SO-3", [line(str(n))]) for n in (4, 5, 6)))
    assert await store.ordered("SO-3") in ([line("4")], [line("5")], [line("6")])


async def test_a_placement_keeps_the_first_ask_and_records_its_fact_once(store: Store) -> None:
    def order(quantity: str) -> SalesOrder:
        line = SalesOrderLine(
            item_id="11",
            sku="SL-SEAT-PRO",
            quantity=Decimal(quantity),
            rate=Money(amount=Decimal("100"), currency="USD"),
        )
        return SalesOrder(
            id="SO-1",
            order_number="SO1",
            external_id="006A",
            customer_id="7",
            currency="USD",
            status="Pending Fulfillment",
            total=Money(amount=Decimal(quantity) * 100, currency="USD"),
            lines=[line],
        )

    accepted = _event("SO-1")
    assert await store.record_placement("006A", order("1"), accepted) == (None, True)
    assert await store.erp_ids_for(ObjectType.SALES_ORDER, ["006A"]) == {"006A": "SO-1"}
    assert await store.count_events(EventType.ORDER_ACCEPTED) == 1
    # A retry, or a later run finding the order (edited in the ERP since): the deal's
    # first ask stands and comes back; the fact is not recorded twice.
    again = await store.record_placement("006A", order("2"), accepted)
    assert again == (order("1").lines, False)
    assert await store.ordered("SO-1") == order("1").lines
    assert await store.count_events(EventType.ORDER_ACCEPTED) == 1
    # An order held for approval records no fact.
    held = order("3").model_copy(update={"id": "SO-2"})
    assert await store.record_placement("006B", held, None) == (None, False)
    assert await store.count_events(EventType.ORDER_ACCEPTED) == 1
