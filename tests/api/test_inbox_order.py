"""The inbox relay signals each delivery, in order per opportunity, across relays killed
between signalling and settling: generated sequences of deliveries over a few deals, on
both store backends, against a real Temporal server."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from activities.crm_triggers import CrmTriggerRouter, TriggerSource, records_named
from models.tables import DeliveryStatus, InboxEntry, WebhookDelivery
from models.webhooks import WebhookTrigger, parse_salesforce_webhook
from store import Store
from tests.api.inbox import (
    changed,
    changed_together,
    delivery,
    in_order,
    opportunity_ids,
    signals_heard,
    store_pending,
    won,
)
from workers.inbox_relay import InboxRelay

DEALS = 3


class Killed(BaseException):
    """The relay's process dying: nothing after it runs, no handler catches it."""


class DyingRouter(CrmTriggerRouter):
    """The real router, in a process that dies after its next ``signals`` signals."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.signals_left: int | None = None
        self.in_flight: set[asyncio.Task[Any]] = set()
        self.this_pass: list[str] = []
        self.repeated: Counter[str] = Counter()
        """Deliveries signalled by a relay that then died: heard once more each time."""

    async def route(self, trigger: WebhookTrigger, source: TriggerSource) -> Any:
        if self.signals_left is not None and self.signals_left <= 0:
            raise Killed
        task = asyncio.current_task()
        assert task is not None
        self.in_flight.add(task)
        try:
            routed = await super().route(trigger, source)
        finally:
            self.in_flight.discard(task)
        if self.signals_left is not None:
            self.signals_left -= 1
        self.this_pass.append(source.delivery_id)
        return routed


async def _relay_dying_after(relay: InboxRelay, router: DyingRouter, signals: int | None) -> None:
    router.signals_left, router.this_pass = signals, []
    try:
        await relay.relay_once()
    except Killed:
        # The dead process's last requests land (or not) before anyone takes over.
        if router.in_flight:
            await asyncio.wait(set(router.in_flight))
        router.repeated.update(router.this_pass)
    finally:
        router.signals_left = None


deliveries = st.tuples(
    st.just("deliver"),
    st.integers(0, DEALS - 1),
    st.sampled_from(["won", "changed", "changed_with_next"]),
)
relay_passes = st.tuples(st.just("relay"), st.none() | st.integers(0, 3))


@given(steps=st.lists(st.one_of(deliveries, relay_passes), max_size=24))
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
async def test_each_delivery_is_signalled_in_order_per_opportunity_across_relay_crashes(
    workflow_env: WorkflowEnvironment, store: Store, steps: list[tuple[Any, ...]]
) -> None:
    ids = opportunity_ids(DEALS)
    router = DyingRouter(
        workflow_env.client,
        store,
        task_queue="inbox-order-test",
        erp_system="netsuite",
        crm_client_name="syncline",
    )
    # A small claim, so a pass leaves work for the next and crashes split batches.
    relay = InboxRelay(store, router, batch=3, concurrency=2)
    stored: list[WebhookDelivery] = []
    for step in steps:
        if step[0] == "deliver":
            _, n, kind = step
            body = {
                "won": won(ids[n]),
                "changed": changed(ids[n]),
                "changed_with_next": changed_together([ids[n], ids[(n + 1) % DEALS]]),
            }[kind]
            row = delivery(body)
            keys = records_named(parse_salesforce_webhook(json.loads(body)))
            row.subject_id = keys[0]
            await store_pending(store, row, keys)
            stored.append(row)
        else:
            await _relay_dying_after(relay, router, step[1])
    while (await relay.relay_once()).claimed:  # drained by a relay that lives
        pass

    async with store.sessions()() as session:
        assert (await session.scalars(select(InboxEntry))).all() == []
        rows = {
            row.id: row
            for row in await session.scalars(
                select(WebhookDelivery).where(col(WebhookDelivery.id).in_([d.id for d in stored]))
            )
        }
    heard = await signals_heard(workflow_env.client, ids)
    won_yet: set[str] = set()
    for row in stored:
        final = rows[row.id]
        trigger = parse_salesforce_webhook(json.loads(row.raw_body))
        names = trigger.opportunity_ids + trigger.changed_opportunity_ids
        # A change reaches a deal only once its won delivery has been signalled: the
        # order per opportunity is what makes "ignored" exactly the changes stored
        # before their deal was won.
        expected = (
            DeliveryStatus.ACCEPTED
            if trigger.opportunity_ids or any(n in won_yet for n in names)
            else DeliveryStatus.IGNORED
        )
        assert final.status == expected, (final.status, final.status_reason)
        won_yet.update(trigger.opportunity_ids)
        for name in names:
            times = heard.get(name, []).count(row.id)
            if name in won_yet:
                # Once each, and once more for each relay that died having signalled it.
                assert times == 1 + router.repeated[row.id], (name, times)
    for name, signals in heard.items():
        assert in_order(signals, [row.id for row in stored]), name
