"""The stateful test: hypothesis drives the real stack through random lifecycles.

Each example is one sequence of operations on a handful of fresh opportunities, run on a
stack that lives for the whole session (``Runtime``). Rules act as people would (sales in
the CRM, finance in the ERP, an operator with the API and Temporal, an outage killing
the worker or revoking the ERP credential) and record what they did in the model and,
Jepsen-style, in a history of operations and answers. Some CRM acts wait for the system
to settle afterwards (``then_settle``), so sequences both race and take turns.

At the end of each sequence (``teardown``) the world is put back (worker up, credential
restored), the system settles, reconciliation runs (as an operator would, and as the
nightly run would), it settles again, and ``model.check`` compares everything the
systems say with the model. A violation fails the example with the whole history, so
hypothesis shrinks it to the shortest sequence that still fails the same way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
)

from tests.lifecycle.driver import Driver, Refused
from tests.lifecycle.finance_rules import SettlementRules
from tests.lifecycle.known_bugs import attribute
from tests.lifecycle.model import (
    CRM_STAGES,
    KINDS,
    Checks,
    Model,
    Opportunity,
    Violation,
    World,
    check,
)
from tests.lifecycle.stack import RECONCILE_SLA_SECONDS, LoopStack

T = TypeVar("T")

SKUS = ("SL-SEAT-PRO", "SL-ONBOARDING", "SL-SEAT-VIEWER", "SL-TRAINING-DAY")
PRICES = (Decimal("99.00"), Decimal("1250.50"), Decimal("333.33"), Decimal("0.99"))
NEW_ITEM_PRICE = Decimal("75.00")
MAX_OPPORTUNITIES = 3
# Sampled with repeats: a lifecycle is mostly wins, invoices and payments. Hypothesis
# shrinks towards the first of each.
STAGES = ("won", "lost", "won", "reopened")
LINE_CHANGES = ("quantity", "price", "add", "remove", "unknown_sku")


def _invoice_tried(opp: Opportunity) -> bool:
    return "post_invoice" in opp.history


class BudgetSpent(BaseException):
    """Enough sequences have run (hypothesis also counts examples it discards, which
    still ran a sequence here): not an error, so not an ``Exception``."""


class LifecycleViolation(AssertionError):
    """The systems disagree with the model after a sequence settled."""


# One class per kind: hypothesis tells bugs apart by the exception's type, so each kind of
# violation is shrunk on its own.
VIOLATION_TYPES: dict[str, type[LifecycleViolation]] = {
    kind: type(f"Violation_{kind}", (LifecycleViolation,), {}) for kind in KINDS
}


@dataclass
class Step:
    index: int
    op: str
    args: dict[str, Any]
    answer: str = ""
    at: float = 0.0
    took: float = 0.0
    final: bool = False
    """Part of the end-of-sequence settle and check, not an operation of the sequence."""
    automatic: bool = False
    """Done by the machine itself (an outage ending), not drawn by hypothesis."""

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.index:3d} +{self.at:6.1f}s {self.op}({args}) -> {self.answer}"


@dataclass
class Outcome:
    """One sequence: what was done, what was found."""

    steps: list[Step]
    violations: list[Violation]
    known: dict[str, str]
    """Violation text → the known bug (issue 17 letter) it is attributed to."""
    checks: int
    seconds: float
    world: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": [
                {
                    "op": s.op,
                    "args": s.args,
                    "answer": s.answer,
                    "at": round(s.at, 2),
                    **({"final": True} if s.final else {}),
                    **({"automatic": True} if s.automatic else {}),
                }
                for s in self.steps
            ],
            "world": self.world.splitlines(),
            "violations": [
                {
                    "kind": v.kind,
                    "opportunity": v.opportunity,
                    "message": v.message,
                    "known": self.known.get(str(v)),
                }
                for v in self.violations
            ],
            "checks": self.checks,
            "seconds": round(self.seconds, 1),
        }


@dataclass
class Runtime:
    """What outlives one sequence: the stack, its driver, and the tally."""

    stack: LoopStack
    driver: Driver
    fail_on: str = "unknown"
    """``all`` violations fail the example, ``unknown`` only those no known bug explains
    (the CI budget), ``none`` (the explorer: record, never fail)."""
    outcomes: list[Outcome] = field(default_factory=list)
    log: Callable[[str], None] | None = None
    budget: int | None = None
    """Stop (``BudgetSpent``) once this many sequences have run."""
    earlier_subjects: set[str] = field(default_factory=set)
    """Records earlier sequences involved: reconciliation may still find their leftovers,
    which are not the current sequence's doing."""

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 180) -> T:
        return self.stack.call(coroutine, timeout)


def label(outcome: Outcome, violation: Violation) -> str:
    """``a`` for a violation issue 17 a explains, ``new:<kind>`` for one nobody does."""
    bug = outcome.known.get(str(violation))
    return bug.split(":")[0].removeprefix("issue 17 ") if bug else f"new:{violation.kind}"


def labels(outcome: Outcome) -> set[str]:
    return {label(outcome, v) for v in outcome.violations}


class LifecycleMachine(SettlementRules, RuleBasedStateMachine):
    runtime: ClassVar[Runtime]

    opportunities = Bundle("opportunities")

    def __init__(self) -> None:
        super().__init__()
        self.model = Model(orders_fixed=not self.driver.erp.can_change_orders)
        self.steps: list[Step] = []
        self.started = time.monotonic()
        self.checks = Checks()
        """Checks made during the sequence (a second run's replay), then at its end."""
        self.outages: list[list[Any]] = []
        """[kind, operations left] of the outage under way."""
        self.operations: dict[str, int] = {}
        self.known_exceptions = {e["id"] for e in self._call(self.driver.open_exceptions())}
        if self.driver.finance is not None:
            # No approval unless this sequence asks (an earlier one may have left it on).
            self._call(self.driver.finance.set_approval(False))

    @property
    def driver(self) -> Driver:
        return self.runtime.driver

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 180) -> T:
        return self.runtime.call(coroutine, timeout)

    def _step(self, op: str, automatic: bool = False, **args: Any) -> Step:
        if not automatic:
            self._end_outages()
            for outage in self.outages:
                outage[1] -= 1  # this operation happens during it
            self.operations[op] = self.operations.get(op, 0) + 1
        step = Step(len(self.steps), op, args, at=time.monotonic() - self.started)
        step.automatic = automatic
        self.steps.append(step)
        if self.runtime.log:
            self.runtime.log(f"  {op}({', '.join(f'{k}={v}' for k, v in args.items())})")
        return step

    def _done(self, step: Step, answer: object) -> None:
        step.answer = str(answer)
        step.took = time.monotonic() - self.started - step.at

    def _crm_id(self, key: str) -> str:
        return self.model.opportunities[key].crm_id

    def _ids(self) -> list[str]:
        return [o.crm_id for o in self.model.opportunities.values()]

    def _settle_after(self, step: Step, then_settle: bool) -> None:
        if not then_settle:
            return
        if not self.model.worker_up:
            step.answer += "; not settled (worker down)"
            return
        begun = time.monotonic()
        moving = self._call(self.driver.settle(self._ids(), timeout=60))
        waited = time.monotonic() - begun
        step.answer += f"; settled in {waited:.1f}s" if not moving else f"; still moving: {moving}"

    def _relined(self, key: str, what: str) -> str:
        lines, ids = self._call(self.driver.lines(self._crm_id(key)))
        self.model.relined(key, lines, ids, what)
        return "lines now " + "; ".join(str(line) for line in lines)

    # -- sales, in the CRM ------------------------------------------------------------

    def open_opportunity(self, skus: list[str], quantity: int) -> str:
        """A sales user opens a deal (the key the history names it by)."""
        key = f"opp_{len(self.model.opportunities)}"
        step = self._step("open_deal", opp=key, skus=skus, quantity=quantity)
        crm_id = self._call(self.driver.open_deal(skus, quantity, f"Lifecycle {key}"))
        lines, ids = self._call(self.driver.lines(crm_id))
        self.model.opened(key, crm_id, lines, ids)
        self._done(step, f"{crm_id}: " + "; ".join(str(line) for line in lines))
        return key

    @initialize(
        target=opportunities,
        skus=st.lists(st.sampled_from(SKUS), min_size=1, max_size=2, unique=True),
        quantity=st.integers(1, 3),
        then_settle=st.booleans(),
        approval=st.booleans(),
    )
    def first_deal(
        self, skus: list[str], quantity: int, then_settle: bool, approval: bool = False
    ) -> str:
        """Every sequence starts from a deal being won: most of a lifecycle follows. The
        ERP holds this sequence's orders for approval when ``approval`` (NetSuite's
        approval routing; Tryton has no approval step)."""
        if approval and self.driver.finance is not None:
            self.approval_routing()
        key = self.open_opportunity(skus, quantity)
        self.crm_stage(key, "won", then_settle)
        return key

    def approval_routing(self) -> None:
        """An administrator turns sales-order approval on for every new order."""
        step = self._step("approval_routing")
        assert self.driver.finance is not None
        self._call(self.driver.finance.set_approval(True))
        self.model.approval = True
        self._done(step, "every new sales order waits for approval")

    @precondition(lambda self: len(self.model.opportunities) < MAX_OPPORTUNITIES)
    @rule(
        target=opportunities,
        skus=st.lists(st.sampled_from(SKUS), min_size=1, max_size=2, unique=True),
        quantity=st.integers(1, 3),
    )
    def open_deal(self, skus: list[str], quantity: int) -> str:
        return self.open_opportunity(skus, quantity)

    @rule(opp=opportunities, stage=st.sampled_from(STAGES), then_settle=st.booleans())
    def crm_stage(self, opp: str, stage: str, then_settle: bool) -> None:
        """A sales user wins, loses or reopens the opportunity."""
        step = self._step("crm_stage", opp=opp, stage=stage, then_settle=then_settle)
        self._call(self.driver.set_stage(self._crm_id(opp), stage))
        self.model.staged(opp, stage)
        self._done(step, f"CRM stage {CRM_STAGES[stage]}")
        self._settle_after(step, then_settle)

    @rule(
        opp=opportunities,
        change=st.sampled_from(LINE_CHANGES),
        line=st.integers(0, 2),
        value=st.integers(0, 3),
        then_settle=st.booleans(),
    )
    def crm_lines(self, opp: str, change: str, line: int, value: int, then_settle: bool) -> None:
        """A sales user amends the lines: a quantity (1 + value), a price (PRICES[value]),
        a line added (SKUS[value]) or removed, or a line of a product the ERP does not
        know yet."""
        step = self._step(
            "crm_lines", opp=opp, change=change, line=line, value=value, then_settle=then_settle
        )
        crm_id = self._crm_id(opp)
        ids = self.model.opportunities[opp].line_ids
        target = ids[line % len(ids)]
        note = ""
        if change == "quantity":
            self._call(self.driver.set_line(target, {"Quantity": 1 + value}))
        elif change == "price":
            price = PRICES[value % len(PRICES)]
            self._call(self.driver.set_line(target, {"UnitPrice": str(price)}))
        elif change == "add":
            self._call(self.driver.add_line(crm_id, SKUS[value % len(SKUS)], 1, None))
        elif change == "remove":
            if len(ids) < 2:
                self._done(step, "kept: the only line")
                return
            self._call(self.driver.remove_line(target))
        else:
            sku = self._call(self.driver.new_crm_product(NEW_ITEM_PRICE))
            self.model.catalog_missing.add(sku)
            self._call(self.driver.add_line(crm_id, sku, 1, NEW_ITEM_PRICE))
            note = f"{sku} is unknown to the ERP; "
        self._done(step, note + self._relined(opp, "amend"))
        self._settle_after(step, then_settle)

    @precondition(lambda self: self._any(lambda o: o.ever_won))
    @rule(pick=st.integers(0, 2), which=st.integers(0, 7))
    def redeliver(self, pick: int, which: int) -> None:
        self.resend_callout(self._pick(pick, lambda o: o.ever_won), which)

    def resend_callout(self, opp: str, which: int) -> None:
        """A duplicate (or, for an older one, a reordered) webhook delivery."""
        step = self._step("resend_callout", opp=opp, which=which)
        callouts = self._call(self.driver.callouts(self._crm_id(opp)))
        if not callouts:
            self._done(step, "no callout sent yet")
            return
        payload = callouts[which % len(callouts)]
        code = self._call(self.driver.post_callout(payload))
        self.model.note(opp, "resend")
        self._done(step, f"{payload['event']} ({payload.get('stageName')}) again: HTTP {code}")

    # -- finance, in the ERP -------------------------------------------------------------

    @precondition(lambda self: self.model.catalog_missing and not self.model.revoked)
    @rule()
    def create_missing_items(self) -> None:
        """Finance adds the items the CRM sells and the ERP lacks."""
        step = self._step("create_missing_items")
        created = sorted(self.model.catalog_missing)
        for sku in created:
            self._call(self.driver.create_item(sku, NEW_ITEM_PRICE))
            self.model.item_created(sku)
        self._done(step, f"created {', '.join(created)} in the ERP")

    def _pick(self, pick: int, wanted: Callable[[Opportunity], bool]) -> str:
        """The ``pick``-th opportunity (wrapping round) that an act makes sense on."""
        candidates = [k for k, o in self.model.opportunities.items() if wanted(o)]
        return candidates[pick % len(candidates)]

    @precondition(lambda self: not self.model.revoked and self._any(lambda o: o.ever_won))
    @rule(pick=st.integers(0, 2))
    def post_invoice(self, pick: int) -> None:
        self.finance(self._pick(pick, lambda o: o.ever_won), "invoice")

    @precondition(lambda self: not self.model.revoked and self._any(_invoice_tried))
    @rule(pick=st.integers(0, 2), in_full=st.booleans())
    def pay(self, pick: int, in_full: bool) -> None:
        self.finance(self._pick(pick, _invoice_tried), "pay_rest" if in_full else "pay_part")

    @precondition(lambda self: not self.model.revoked and self._any(lambda o: o.ever_won))
    @precondition(lambda self: not self.model.orders_fixed)
    @rule(pick=st.integers(0, 2))
    def finance_cancels_order(self, pick: int) -> None:
        self.finance(self._pick(pick, lambda o: o.ever_won), "cancel")

    @precondition(lambda self: not self.model.revoked and self._any(lambda o: o.ever_won))
    @precondition(lambda self: not self.model.orders_fixed)
    @rule(pick=st.integers(0, 2))
    def finance_edits_order(self, pick: int) -> None:
        self.finance(self._pick(pick, lambda o: o.ever_won), "edit")

    @precondition(lambda self: not self.model.revoked and self._any(lambda o: o.ever_won))
    @precondition(lambda self: self.model.orders_fixed)
    @rule(pick=st.integers(0, 2))
    def finance_adds_order(self, pick: int) -> None:
        """Finance enters a second order for a deal (Tryton; NetSuite keys orders by the
        opportunity)."""
        self.finance(self._pick(pick, lambda o: o.ever_won), "add_order")

    def _any(self, wanted: Callable[[Opportunity], bool]) -> bool:
        return any(wanted(o) for o in self.model.opportunities.values())

    def finance(self, opp: str, act: str) -> None:
        """Finance in the ERP: invoice the order, take a payment (part or the rest),
        cancel the order, or edit it (one more of its first line)."""
        step = self._step("finance", opp=opp, act=act)
        self.model.opportunities[opp].attempted.add(act)
        if act == "invoice":
            # Noted as drawn, whatever the ERP holds: rules choose by it. Noted only
            # once a live order was found, it made the finance rules enabled after it
            # depend on whether the deal had placed its order yet, and hypothesis
            # restarted generation on it (seeds 20261205 and 20261207).
            self.model.note(opp, "post_invoice")
        crm_id = self._crm_id(opp)
        orders = self._call(self.driver.erp_orders(crm_id))
        live = [o for o in orders if not o.cancelled]
        if act in ("pay_part", "pay_rest"):
            invoices = self._call(self.driver.erp_invoices(orders))
            due = [i for i in invoices if not i.voided and i.paid + i.credited < i.total]
            if not due:
                self._done(step, "nothing due")
                return
            paid = self._call(self.driver.pay(due[0], part=act == "pay_part"))
            if isinstance(paid, Refused):
                self._done(step, paid)
                return
            self.model.paid(opp, due[0].id, paid)
            self._done(
                step, f"{paid} on invoice {due[0].id}: {due[0].paid + paid} of {due[0].total}"
            )
            return
        if not live:
            self._done(step, "no live ERP order")
            return
        order = live[0]
        if act == "invoice":
            order = next((o for o in live if not o.billed), order)  # the first not billed
            invoice = self._call(self.driver.post_invoice(order))
            if isinstance(invoice, Refused):
                self._done(step, invoice)
                return
            self.model.invoiced(opp, invoice.id, invoice.total)
            self._done(step, f"invoice {invoice.id} ({invoice.total}) on {order.number}")
            return
        if act == "add_order":
            added = self._call(self.driver.add_order(order, crm_id))
            if not isinstance(added, Refused):
                self.model.note(opp, "finance_add_order")
                added = f"order {added} entered in the ERP for the same opportunity"
            self._done(step, added)
            return
        if act == "cancel":
            refused = self._call(self.driver.cancel_order(order))
            if refused is None:
                self.model.note(opp, "finance_cancel")
            self._done(step, refused or f"{order.number} cancelled in the ERP")
            return
        refused = self._call(self.driver.edit_order(order))
        if refused is None:
            self.model.note(opp, "finance_edit")
        self._done(step, refused or f"{order.number}: its first line's quantity + 1 in the ERP")

    # -- the operator ----------------------------------------------------------------------

    @precondition(lambda self: self._any(lambda o: o.retry_may_help))
    @rule(pick=st.integers(0, 2))
    def operator_retries(self, pick: int) -> None:
        self.retry(self._pick(pick, lambda o: o.retry_may_help))

    def retry(self, opp: str) -> None:
        step = self._step("retry", opp=opp)
        crm_id = self._crm_id(opp)
        rows = [
            e
            for e in self._call(self.driver.open_exceptions())
            if e["subject_id"] == crm_id and e["status"] == "open"
        ]
        answers = [f"{e['reason']}: HTTP {self._call(self.driver.retry(e['id']))}" for e in rows]
        self.model.retried(opp)
        self._done(step, "; ".join(answers) or "no open exception")

    @precondition(lambda self: self.model.worker_up and not self.model.revoked)
    @precondition(lambda self: self._any(lambda o: o.ever_won))
    @precondition(lambda self: self.operations.get("second_run", 0) < 2)
    @rule(pick=st.integers(0, 2))
    def terminate_run(self, pick: int) -> None:
        self.second_run(self._pick(pick, lambda o: o.ever_won))

    def second_run(self, opp: str) -> None:
        """Terminate the deal's run; reconciliation should start it again."""
        step = self._step("second_run", opp=opp)
        self.model.opportunities[opp].attempted.add("second_run")
        crm_id = self._crm_id(opp)
        before = self._call(self.driver.deal_run(crm_id))
        if before is None or before[1] != "RUNNING":
            self._done(step, f"no running deal ({before[1] if before else 'never started'})")
            return
        status = self._call(self.driver.stack.api.get(f"/api/deals/{crm_id}")).json()["status"]
        if not self._call(self.driver.terminate(crm_id)):
            # It ended on its own between the look and the termination (a worker just
            # back finishing it): there is no stopped run to replay.
            ended = self._call(self.driver.deal_run(crm_id))
            self._done(step, f"the run ended on its own ({ended[1] if ended else '?'})")
            return
        self.model.note(opp, "second_run")
        self._call(self.driver.reconcile())
        after = self._call(self.driver.deal_run(crm_id))
        # A new run counts whether it still runs or already ended (the opportunity was
        # lost meanwhile: it reads that and ends cancelled at once).
        if after is not None and after[0] != before[0] and after[1] in ("RUNNING", "COMPLETED"):
            self._done(
                step, f"terminated in {status}; reconciliation started a new run ({after[1]})"
            )
            return
        answer = f"terminated in {status}; reconciliation did not start a new run"
        parked = [e for e in self._call(self.driver.open_exceptions()) if e["subject_id"] == crm_id]
        self.checks.expect(
            status in ("paid", "cancelled") or bool(parked),
            "stranded",
            opp,
            f"the deal's run was terminated in status {status}; reconciliation started no "
            "new run and opened no exception",
        )
        code = self._call(self.driver.redeliver_closed_won(crm_id))
        self._done(step, f"{answer}; the CRM redelivered its closed-won callout (HTTP {code})")

    @precondition(lambda self: self.model.worker_up and not self.model.revoked)
    @precondition(lambda self: self.operations.get("reconcile", 0) < 2)
    @rule()
    def reconcile(self) -> None:
        step = self._step("reconcile")
        report = self._call(self.driver.reconcile())
        self._done(step, _report_summary(report, set(self._ids())))

    @precondition(lambda self: self.model.worker_up and self.steps[-1].op != "settle")
    @rule()
    def settle(self) -> None:
        step = self._step("settle")
        self._done(step, "")
        self._settle_after(step, True)

    # -- outages -------------------------------------------------------------------------

    @precondition(lambda self: self._outage_allowed())
    @rule(lasting=st.integers(0, 3))
    def worker_outage(self, lasting: int) -> None:
        """SIGKILL the worker (activities die mid-call); it starts again after
        ``lasting`` more operations."""
        step = self._step("worker_outage", lasting=lasting)
        self.driver.kill_worker()
        self.model.worker_up = False
        self.outages.append(["worker", lasting])
        self._done(step, "worker killed (SIGKILL)")
        self._end_outages()

    @precondition(lambda self: self._outage_allowed())
    @rule(lasting=st.integers(0, 3))
    def credential_outage(self, lasting: int) -> None:
        """An administrator revokes the ERP credential Syncline uses (its tokens too); it
        is restored after ``lasting`` more operations."""
        step = self._step("credential_outage", lasting=lasting)
        answer = self._call(self.driver.revoke_credential())
        self.model.credential_revoked()
        self.outages.append(["credential", lasting])
        self._done(step, answer)
        self._end_outages()

    def _outage_allowed(self) -> bool:
        started = self.operations.get("worker_outage", 0) + self.operations.get(
            "credential_outage", 0
        )
        return not self.outages and started < 2

    def _end_outages(self) -> None:
        """End the outages that have lasted as many operations as they were to."""
        for outage in list(self.outages):
            if outage[1] > 0:
                continue
            self.outages.remove(outage)
            self._end_outage(str(outage[0]), "outage over")

    def _end_outage(self, kind: str, why: str) -> None:
        if kind == "worker":
            step = self._step("start_worker", automatic=True)
            self.driver.start_worker()
            self.model.worker_up = True
            self._done(step, f"worker started ({why})")
        else:
            step = self._step("restore_erp_credential", automatic=True)
            self._call(self.driver.restore_credential())
            self.model.credential_restored()
            self._done(step, f"ERP client accepted again ({why})")

    # -- the end of a sequence -------------------------------------------------------------

    def teardown(self) -> None:
        outcome = self.finish()
        self.runtime.outcomes.append(outcome)
        failing = [
            v
            for v in outcome.violations
            if self.runtime.fail_on == "all"
            or (self.runtime.fail_on == "unknown" and str(v) not in outcome.known)
        ]
        if failing:
            raise VIOLATION_TYPES[failing[0].kind](render(outcome, failing))
        if self.runtime.budget is not None and len(self.runtime.outcomes) >= self.runtime.budget:
            raise BudgetSpent()

    def finish(self) -> Outcome:
        first_final = len(self.steps)
        for kind, _ in self.outages:
            self._end_outage(str(kind), "end of sequence")
        self.outages = []
        step = self._step("settle")
        unsettled = self._call(
            self.driver.settle(self._ids(), quiet=RECONCILE_SLA_SECONDS + 0.3), timeout=200
        )
        self._done(step, "settled" if not unsettled else f"still moving: {unsettled}")
        # Twice, as two nights would: what the first run repairs (a cancellation
        # republished), the second may find still needs a person. A first night that
        # repaired nothing and left nothing in flight leaves the second nothing to do.
        for night in range(2):
            step = self._step("reconcile")
            report = self._call(self.driver.reconcile())
            self._done(step, _report_summary(report, set(self._ids())))
            step = self._step("settle")
            unsettled = self._call(
                self.driver.settle(self._ids(), quiet=RECONCILE_SLA_SECONDS + 0.3), timeout=200
            )
            self._done(step, "settled" if not unsettled else f"still moving: {unsettled}")
            if night == 0 and not unsettled and _nothing_for_a_second_night(report):
                break
        world = self._call(
            self.driver.observe(
                self.model, self.known_exceptions, self.runtime.earlier_subjects, unsettled
            )
        )
        self.runtime.earlier_subjects |= world.subjects
        violations = check(self.model, world, self.checks)
        if world.feed_status != "RUNNING":
            # Put the stack right for the next sequence (the violation is recorded).
            step = self._step("restart_worker")
            self.driver.restart_worker()
            moving = self._call(self.driver.settle([], timeout=30))
            self._done(
                step,
                f"the feed was {world.feed_status}: worker restarted to revive it"
                + (f"; still moving: {moving}" if moving else ""),
            )
        for step in self.steps[first_final:]:
            step.final = True
        known = attribute(violations, self.model)
        return Outcome(
            steps=self.steps,
            violations=violations,
            known=known,
            checks=self.checks.made,
            seconds=time.monotonic() - self.started,
            world=describe_world(self.model, world),
        )


def _nothing_for_a_second_night(report: dict[str, Any]) -> bool:
    """No repair made and no difference left to age into an exception: a second run
    would compare the same systems and find the same."""
    repaired = sum(int(d.get("repaired") or 0) for d in report.get("domains", []))
    waiting = [f for f in report.get("findings", []) if f.get("state") != "exception"]
    return report.get("status") == "completed" and repaired == 0 and not waiting


def _report_summary(report: dict[str, Any], keys: set[str]) -> str:
    mine = [
        f"{f['domain']}/{f['drift']}/{f['state']}: {f['summary']}"
        for f in report.get("findings", [])
        if f["key"] in keys or f.get("evidence", {}).get("crm_opportunity_id") in keys
    ]
    return f"{report['status']}, unexplained {report.get('unexplained', '?')}; " + (
        " | ".join(mine) or "nothing about this sequence's deals"
    )


def describe_world(model: Model, world: World) -> str:
    out = []
    for key, opp in model.opportunities.items():
        seen = world.opportunities[key]
        deal = seen.deal
        lines = "; ".join(str(line) for line in seen.crm_lines)
        out.append(f"{key} {opp.crm_id}: CRM {seen.crm_stage}, lines {lines}")
        for order in seen.orders:
            out.append(f"    ERP order {order.id} {order.number} {order.status} {order.total}")
        for invoice in seen.invoices:
            paid = f"{invoice.paid}/{invoice.total}"
            out.append(f"    ERP invoice {invoice.id} on order {invoice.order_id}: {paid} paid")
        run = f"{deal.status} at {deal.step}, run {deal.run_status}" if deal else "none"
        out.append(f"    deal: {run}")
        facts = ", ".join(_event_text(e.type, e.payload) for e in seen.events)
        out.append(f"    ledger: {facts or 'nothing'}")
        out.append(
            f"    reports: bookings {seen.bookings}, billings {seen.billings}, "
            f"collections {seen.collections}"
        )
        out.append(f"    CRM write-back: {json.dumps(seen.write_back, default=str)}")
        for e in seen.exceptions:
            out.append(f"    open exception ({e.process}) {e.reason} at {e.step}: {e.message}")
    out.append(f"ERP change feed: {world.feed_status}")
    return "\n".join(out)


def _event_text(kind: str, payload: dict[str, Any]) -> str:
    amount = payload.get("total") or payload.get("amount")
    return f"{kind}{'#' + str(payload['amendment']) if 'amendment' in payload else ''}" + (
        f" {amount}" if amount else ""
    )


def render(outcome: Outcome, violations: list[Violation]) -> str:
    lines = ["the systems disagree with the model:"]
    for violation in violations:
        lines.append(f"  {violation}")
    failing = {str(v) for v in violations}
    others = {text: bug for text, bug in outcome.known.items() if text not in failing}
    if others:
        lines.append("also found, attributed to other known bugs:")
        lines += [f"  {text} -> {bug.split(':')[0]}" for text, bug in others.items()]
    lines.append("history (operation -> answer):")
    lines += [f"  {step}" for step in outcome.steps]
    lines.append("the world after settling:")
    lines += [f"  {line}" for line in outcome.world.splitlines()]
    return "\n".join(lines)


class Scripted(LifecycleMachine):
    """A sequence written out by hand (a regression): the machine's operations, called
    in order, without hypothesis."""

    def __init__(self, runtime: Runtime) -> None:
        LifecycleMachine.runtime = runtime
        super().__init__()

    def check(self, bug: str | None = None) -> Outcome:
        """Settle, reconcile and check. Fails on a violation of known bug ``bug`` (the
        letter) or one no known bug explains; the others known are only reported."""
        outcome = self.finish()
        self.runtime.outcomes.append(outcome)
        failing = [v for v in outcome.violations if label(outcome, v) in (bug, f"new:{v.kind}")]
        if failing:
            raise VIOLATION_TYPES[failing[0].kind](render(outcome, failing))
        return outcome
