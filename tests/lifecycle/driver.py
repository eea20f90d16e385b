"""What the lifecycle tests do to the running stack, and how they read it back.

Every act goes where a person's would: the CRM's REST API as a sales user (its Flow then
calls Syncline), the ERP's REST API as finance, the operator API, the Temporal client
(terminating a run), and the process table (killing the worker). Reading back uses the
same public surfaces (CRM, ERP, the operator API's deals, exceptions, reports and
reconciliations, Temporal), with two exceptions: the ledger's facts per opportunity are
read from Syncline's database, as the storm reads them (the API shows them only for a
deal that has run), and the settle wait's fingerprint reads the databases, because it
must see the ERP while its credential is revoked.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import partial
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from connectors.errors import ConnectorError
from tests.deals import add_crm_product
from tests.e2e.conftest import Stack
from tests.lifecycle.erp import ErpSide, NetSuiteSide, Refused, erp_side, refusing
from tests.lifecycle.erp_settlement import NetSuiteFinance
from tests.lifecycle.http import RetryingReads, read_again
from tests.lifecycle.model import (
    CENT,
    CRM_STAGES,
    ZERO,
    DealView,
    EventView,
    ExceptionView,
    InvoiceView,
    Line,
    Model,
    OpportunityWorld,
    OrderView,
    PendingActivity,
    World,
    money,
)
from tests.lifecycle.stack import RECONCILE_SLA_SECONDS
from workflows.deal import contract as deal
from workflows.feed import contract as feed

WRITE_BACK_FIELDS = (
    "Syncline_Order_Id__c",
    "Syncline_Order_Number__c",
    "Syncline_Order_Status__c",
    "Syncline_Billing_Status__c",
    "Syncline_Invoiced_Amount__c",
    "Syncline_Paid_Amount__c",
    "Syncline_Balance__c",
)
LINE_QUERY = (
    "SELECT Id, ProductCode, Quantity, UnitPrice FROM OpportunityLineItem "
    "WHERE OpportunityId = '{}' ORDER BY Id"
)
# A stuck retry is reported, not waited for: the settle wait stops counting it as motion.
STUCK_ATTEMPTS = 3


class Driver:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.dev = stack.dev
        self._temporal: Client | None = None
        self._ledger: AsyncEngine | None = None
        self._worker_argv: list[str] | None = None
        self._crm_admin = httpx.AsyncClient(
            base_url=self.dev.crm_url, timeout=30, transport=RetryingReads()
        )
        self.erp: ErpSide = erp_side(stack)
        self.finance: NetSuiteFinance | None = None
        """Approval and settlement acts: NetSuite's (Tryton has no approval step)."""
        if isinstance(self.erp, NetSuiteSide):
            self.finance = NetSuiteFinance(self.erp.client, self.erp.admin_url)

    async def temporal(self) -> Client:
        if self._temporal is None:
            self._temporal = await Client.connect(
                self.dev.temporal_address, data_converter=pydantic_data_converter
            )
        return self._temporal

    def ledger(self) -> AsyncEngine:
        if self._ledger is None:
            self._ledger = create_async_engine(self.stack.env["SYNCLINE_DATABASE_URL"])
        return self._ledger

    async def aclose(self) -> None:
        await self._crm_admin.aclose()
        if self._ledger is not None:
            await self._ledger.dispose()

    # -- the CRM, as a sales user ---------------------------------------------------------

    async def open_deal(self, skus: list[str], quantity: int, name: str) -> str:
        account = await self.stack.crm.create(
            "Account",
            {
                "Name": f"{name} account",
                "BillingStreet": "1 Market St",
                "BillingCity": "San Francisco",
                "BillingPostalCode": "94105",
                "BillingCountry": "US",
            },
        )
        opportunity = await self.stack.crm.create(
            "Opportunity",
            {
                "Name": name,
                "AccountId": account,
                "StageName": CRM_STAGES["open"],
                "CloseDate": datetime.now(UTC).date().isoformat(),
            },
        )
        for sku in skus:
            await self.add_line(opportunity, sku, quantity, None)
        return opportunity

    async def lines(self, opportunity_id: str) -> tuple[list[Line], list[str]]:
        rows = await self.stack.crm.query(LINE_QUERY.format(opportunity_id))
        lines = [
            Line(str(r["ProductCode"]), Decimal(str(r["Quantity"])), money(r["UnitPrice"]))
            for r in rows
        ]
        return lines, [str(r["Id"]) for r in rows]

    async def set_stage(self, opportunity_id: str, stage: str) -> None:
        await self.stack.crm.update("Opportunity", opportunity_id, {"StageName": CRM_STAGES[stage]})

    async def set_line(self, line_id: str, fields: dict[str, Any]) -> None:
        await self.stack.crm.update("OpportunityLineItem", line_id, fields)

    async def add_line(
        self, opportunity_id: str, sku: str, quantity: int, price: Decimal | None
    ) -> None:
        fields: dict[str, Any] = {
            "OpportunityId": opportunity_id,
            "PricebookEntryId": self.stack.entries[sku],
            "Quantity": quantity,
        }
        fields["UnitPrice"] = str(price) if price is not None else "1250.50"
        await self.stack.crm.create("OpportunityLineItem", fields)

    async def remove_line(self, line_id: str) -> None:
        await self.stack.crm.delete("OpportunityLineItem", line_id)

    async def new_crm_product(self, price: Decimal) -> str:
        """A product the CRM sells and the ERP does not know."""
        sku = f"LC-{uuid.uuid4().hex[:8].upper()}"
        await add_crm_product(self.stack.crm, self.stack.entries, sku, str(price))
        return sku

    # -- webhooks: what the CRM's Flow sent, sent again -------------------------------------

    async def callouts(self, opportunity_id: str) -> list[dict[str, Any]]:
        """The opportunity's callouts as the CRM sent them, oldest first."""
        answer = await self._crm_admin.get(
            "/admin/webhook-deliveries", params={"opportunityId": opportunity_id}
        )
        answer.raise_for_status()
        rows = [d for d in answer.json()["deliveries"] if d["redelivery_of"] is None]
        return [d["payload"] for d in reversed(rows)]

    async def post_callout(self, payload: dict[str, Any]) -> int:
        """One more delivery of a callout, signed now (as the CRM's retry would)."""
        answer = await self.stack.post_webhook(json.dumps(payload).encode())
        return answer.status_code

    async def redeliver_closed_won(self, opportunity_id: str) -> int:
        answer = await self._crm_admin.post(
            f"/admin/webhooks/redeliver/{opportunity_id}",
            params={"event": "opportunity.closed_won"},
        )
        return answer.status_code

    # -- the ERP, as finance -----------------------------------------------------------------

    async def erp_orders(self, opportunity_id: str) -> list[OrderView]:
        return await read_again(lambda: self.erp.orders(opportunity_id))

    async def erp_invoices(self, orders: list[OrderView]) -> list[InvoiceView]:
        return await read_again(lambda: self.erp.invoices(orders))

    async def post_invoice(self, order: OrderView) -> InvoiceView | Refused:
        try:
            invoice_id = await self.erp.post_invoice(order)
        except ConnectorError as error:
            return Refused(error.message)
        except Refused as refused:
            return refused
        [invoice] = [i for i in await self.erp_invoices([order]) if i.id == invoice_id]
        return invoice

    async def pay(self, invoice: InvoiceView, part: bool) -> Decimal | Refused:
        due = invoice.total - invoice.paid - invoice.credited
        amount = (due / 2).quantize(CENT, rounding=ROUND_DOWN) if part else due
        if amount <= ZERO:
            return Refused(f"invoice {invoice.id} has {due} due")
        return await refusing(self.erp.pay(invoice, amount)) or amount

    async def cancel_order(self, order: OrderView) -> Refused | None:
        return await refusing(self.erp.cancel(order))

    async def edit_order(self, order: OrderView) -> Refused | None:
        return await refusing(self.erp.edit(order))

    async def create_item(self, sku: str, price: Decimal) -> None:
        await self.erp.create_item(sku, price)

    async def add_order(self, order: OrderView, opportunity_id: str) -> str | Refused:
        try:
            return await self.erp.add_order(order, opportunity_id)
        except Refused as refused:
            return refused

    async def revoke_credential(self) -> str:
        return await self.erp.revoke()

    async def restore_credential(self) -> None:
        await self.erp.restore()

    # -- the operator ------------------------------------------------------------------------

    async def open_exceptions(self) -> list[dict[str, Any]]:
        answer = await self.stack.api.get("/api/exceptions")
        answer.raise_for_status()
        return [e for e in answer.json() if e["status"] != "resolved"]

    async def retry(self, exception_id: str) -> int:
        answer = await self.stack.api.post(f"/api/exceptions/{exception_id}/retry")
        return answer.status_code

    async def reconcile(self, timeout: float = 120) -> dict[str, Any]:
        asked = await self.stack.api.post("/api/reconciliations", json={})
        asked.raise_for_status()
        run_id = asked.json()["id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = await self.stack.api.get(f"/api/reconciliations/{run_id}")
            if answer.status_code == 200 and answer.json()["status"] != "running":
                report: dict[str, Any] = answer.json()
                report["findings"] = await self._findings(run_id)
                return report
            await asyncio.sleep(0.2)
        raise TimeoutError(f"reconciliation {run_id} still running after {timeout} s")

    async def _findings(self, run_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = ""
        while True:
            answer = await self.stack.api.get(
                f"/api/reconciliations/{run_id}/findings", params={"limit": 1000, "after": after}
            )
            answer.raise_for_status()
            page = answer.json()
            found += page
            if len(page) < 1000:
                return found
            last = page[-1]
            after = f"{last['domain']}:{last['drift']}:{last['key']}"

    async def deal_run(self, opportunity_id: str) -> tuple[str, str] | None:
        """The deal's latest run: (run id, status name), or None when it never ran."""
        handle = (await self.temporal()).get_workflow_handle(deal.deal_workflow_id(opportunity_id))
        try:
            description = await handle.describe()
        except RPCError:
            return None
        status = description.status
        return description.run_id or "", status.name if status else "UNKNOWN"

    async def terminate(self, opportunity_id: str) -> bool:
        handle = (await self.temporal()).get_workflow_handle(deal.deal_workflow_id(opportunity_id))
        try:
            await handle.terminate("lifecycle test: a second run of this deal")
        except RPCError:
            return False
        return True

    def kill_worker(self) -> None:
        """SIGKILL: no graceful shutdown, activities die mid-call."""
        process = self.dev._processes["worker"]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self._worker_argv = [str(a) for a in process.args]  # type: ignore[union-attr]

    def start_worker(self) -> None:
        assert self._worker_argv is not None
        self.dev._spawn("worker", self._worker_argv, self.dev.environment())

    def restart_worker(self) -> None:
        self.dev.restart("worker")

    # -- settling -----------------------------------------------------------------------------

    async def settle(
        self, opportunity_ids: list[str], quiet: float = 0.6, timeout: float = 90
    ) -> list[str]:
        """Wait until nothing moves: no callout pending in the CRM, no deal with an
        activity or a workflow task under way (one retrying for ever is reported, not
        waited for), and the fingerprint of ERP, ledger, exceptions and CRM write-backs
        unchanged for ``quiet`` seconds and two ERP feed polls. What still moved when
        ``timeout`` ran out, or nothing."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        changed_at = time.monotonic()
        polls_since_change = 0
        last_poll: str | None = None
        moving: list[str] = []
        changing: list[str] = []
        while time.monotonic() < deadline:
            moving = await self._moving(opportunity_ids)
            fingerprint = await self._fingerprint(opportunity_ids)
            poll, feed_running = await self._feed_poll()
            now = time.monotonic()
            if poll != last_poll:
                # A new poll (its time, so a feed that continued as new still counts).
                last_poll, polls_since_change = poll, polls_since_change + 1
            if fingerprint != last:
                changing = [k for k in fingerprint if last and fingerprint[k] != last.get(k)]
                last, changed_at, polls_since_change = fingerprint, now, 0
            elif (
                not moving
                and now - changed_at >= quiet
                and (not feed_running or polls_since_change >= 2)
            ):
                return []
            await asyncio.sleep(0.2)
        if moving:
            return moving
        if changing:
            return [f"kept changing: {', '.join(changing)}"]
        return ["the ERP change feed did not poll"]

    async def _moving(self, opportunity_ids: list[str]) -> list[str]:
        moving = []
        answer = await self._crm_admin.get(
            "/admin/webhook-deliveries", params={"status": "pending"}
        )
        pending = answer.json()["deliveries"] if answer.status_code == 200 else []
        if pending:
            moving.append(f"{len(pending)} CRM callouts pending")
        client = await self.temporal()
        for opportunity_id in opportunity_ids:
            handle = client.get_workflow_handle(deal.deal_workflow_id(opportunity_id))
            try:
                raw = (await handle.describe()).raw_description
            except RPCError:
                continue
            busy = [
                p.activity_type.name for p in raw.pending_activities if p.attempt < STUCK_ATTEMPTS
            ]
            if raw.HasField("pending_workflow_task"):
                busy.append("workflow task")
            if busy:
                moving.append(f"deal {opportunity_id}: {', '.join(busy)}")
        return moving

    async def _fingerprint(self, opportunity_ids: list[str]) -> dict[str, Any]:
        erp = await asyncio.to_thread(self.erp.fingerprint)
        async with self.ledger().connect() as connection:
            ledger = (
                await connection.execute(sa.text("SELECT count(*) FROM ledger_events"))
            ).scalar()
            exceptions = (
                await connection.execute(
                    sa.text("SELECT id, status, retry_count FROM exceptions ORDER BY id")
                )
            ).all()
        crm: list[Any] = []
        if opportunity_ids:
            listed = ", ".join(f"'{i}'" for i in opportunity_ids)
            crm = await self.stack.crm.query(
                f"SELECT Id, StageName, {', '.join(WRITE_BACK_FIELDS)} FROM Opportunity "
                f"WHERE Id IN ({listed}) ORDER BY Id"
            )
        return {
            "ERP records": erp,
            "ledger": ledger,
            "exceptions": [tuple(r) for r in exceptions],
            "CRM write-backs": crm,
        }

    async def _feed_poll(self) -> tuple[str | None, bool]:
        """When the ERP change feed last polled, and whether it runs."""
        answer = await self.stack.api.get("/api/erp-feed")
        running = await self.feed_status() == "RUNNING"
        if answer.status_code != 200:
            return None, running
        return answer.json()["last_poll_at"], running

    async def feed_status(self) -> str:
        handle = (await self.temporal()).get_workflow_handle(
            feed.feed_workflow_id(self.stack.env.get("SYNCLINE_ERP_KIND", "netsuite"))
        )
        try:
            status = (await handle.describe()).status
        except RPCError:
            return "NOT_STARTED"
        return status.name if status else "UNKNOWN"

    # -- reading the world back ---------------------------------------------------------------

    async def observe(
        self, model: Model, known_exceptions: set[str], earlier: set[str], unsettled: list[str]
    ) -> World:
        """Every system's say about the model's opportunities, now. Exceptions about
        none of them count as stray unless open before or about ``earlier`` subjects
        (records of earlier sequences)."""
        today = datetime.now(UTC).date()
        window = {"from": str(today - timedelta(days=2)), "to": str(today + timedelta(days=1))}
        reports = {
            metric: await self._report(metric, window)
            for metric in ("bookings", "billings", "collections")
        }
        exceptions = [_exception(e) for e in await self.open_exceptions()]
        world = World(
            opportunities={},
            feed_status=await self.feed_status(),
            stray_exceptions=[],
            unsettled=unsettled,
        )
        claimed: set[str] = set()
        for key, opp in model.opportunities.items():
            orders = await self.erp_orders(opp.crm_id)
            invoices = await self.erp_invoices(orders)
            customers = {o.customer_id for o in orders}
            memos, refunds = [], []
            if self.finance is not None:
                memos, refunds = await read_again(partial(self.finance.memos, customers))
            subjects = {opp.crm_id, *(i.id for i in invoices), *customers}
            world.subjects |= subjects
            mine = [e for e in exceptions if e.subject in subjects]
            claimed |= {e.id for e in mine}
            crm = await self.stack.crm.get("Opportunity", opp.crm_id)
            lines, _ = await self.lines(opp.crm_id)
            world.opportunities[key] = OpportunityWorld(
                crm_stage=str(crm["StageName"]),
                crm_lines=lines,
                write_back={name: crm.get(name) for name in WRITE_BACK_FIELDS},
                orders=orders,
                invoices=invoices,
                deal=await self._deal(opp.crm_id),
                events=await self._events(
                    opp.crm_id, [*(m.id for m in memos), *(r.id for r in refunds)]
                ),
                exceptions=mine,
                bookings=sum((reports["bookings"].get(c, ZERO) for c in customers), ZERO),
                billings=sum((reports["billings"].get(c, ZERO) for c in customers), ZERO),
                collections=sum((reports["collections"].get(c, ZERO) for c in customers), ZERO),
                memos=memos,
                refunds=refunds,
            )
        world.stray_exceptions = [
            e
            for e in exceptions
            if e.id not in claimed and e.id not in known_exceptions and e.subject not in earlier
        ]
        return world

    async def _report(self, metric: str, window: dict[str, str]) -> dict[str, Decimal]:
        answer = await self.stack.api.get(
            f"/api/reports/{metric}", params={**window, "group_by": "customer"}
        )
        answer.raise_for_status()
        return {str(r["customer"]): money(r["amount"]) for r in answer.json()["rows"]}

    async def _deal(self, opportunity_id: str) -> DealView | None:
        handle = (await self.temporal()).get_workflow_handle(deal.deal_workflow_id(opportunity_id))
        try:
            description = await handle.describe()
        except RPCError:
            return None
        answer = await self.stack.api.get(f"/api/deals/{opportunity_id}")
        state = answer.json() if answer.status_code == 200 else {}
        pending = [
            PendingActivity(
                p.activity_type.name,
                p.attempt,
                f"{p.last_failure.application_failure_info.type}: {p.last_failure.message}"[:300],
            )
            for p in description.raw_description.pending_activities
        ]
        status = description.status or WorkflowExecutionStatus.RUNNING
        try:
            waits_on = (await deal.STATE.ask(handle)).open_exception
        except RPCError:
            waits_on = None
        return DealView(
            status=str(state.get("status", "unknown")),
            step=state.get("step"),
            run_status=status.name,
            pending=pending,
            open_exception=waits_on.id if waits_on else None,
        )

    async def _events(self, opportunity_id: str, sources: list[str]) -> list[EventView]:
        """The opportunity's facts, and those of ``sources`` (a standalone credit memo's
        and its refunds' facts are about the customer, not a deal)."""
        query = sa.text(
            "SELECT event_type, source_id, payload FROM ledger_events "
            "WHERE subject_id = :subject OR source_id IN :sources ORDER BY occurred_at"
        ).bindparams(sa.bindparam("sources", expanding=True))
        async with self.ledger().connect() as connection:
            rows = (
                await connection.execute(
                    query, {"subject": opportunity_id, "sources": sources or ["-"]}
                )
            ).all()
        return [
            EventView(
                str(kind),
                str(source),
                payload if isinstance(payload, dict) else json.loads(payload),
            )
            for kind, source, payload in rows
        ]


def _exception(row: dict[str, Any]) -> ExceptionView:
    return ExceptionView(
        id=row["id"],
        process=row["process"],
        reason=row["reason"],
        step=row["step"],
        message=row["message"],
        subject=row["subject_id"],
        workflow_id=row["workflow_id"],
    )


__all__ = ["RECONCILE_SLA_SECONDS", "Driver", "Refused"]
