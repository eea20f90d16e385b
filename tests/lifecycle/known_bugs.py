"""Known bugs (issue 17), by the violations they cause and the history that causes them.

The CI budget fails only on violations none of these explains, so it stays green while
a known bug is open and still catches anything new. Each entry is narrow: a kind of
violation *and* the history that produces it. Fixing a bug: delete its entry here and
the ``xfail`` marker of its regression in ``test_regressions.py``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from tests.lifecycle.model import Model, Opportunity, Violation


@dataclass(frozen=True)
class KnownBug:
    letter: str
    summary: str
    kinds: frozenset[str]
    history: Callable[[Model, Opportunity | None], bool]
    """Whether the history (of the opportunity the violation is about, if any) is the
    one that causes it."""
    about: str = ""
    """A pattern the violation's message must match (``re.search``; empty: any)."""
    consequences: tuple[tuple[str, str], ...] = ()
    """(kind, pattern) of violations that follow from this one in the same sequence (a
    stopped feed leaves billing unrecorded), attributed to it when it is there."""


def _rewon(_: Model, opp: Opportunity | None) -> bool:
    """Won, then lost or reopened, then won again."""
    stages = [h for h in (opp.history if opp else []) if h in ("won", "lost", "reopened")]
    return any(
        a == "won" and b in ("lost", "reopened") and "won" in stages[i + 2 :]
        for i, (a, b) in enumerate(itertools.pairwise(stages))
    )


SECOND_RUN = ("second_run", "resend")
"""Operations after which a deal may run a second time (terminated and replayed, or a
closed-won callout delivered again after its run ended)."""

KNOWN_BUGS: tuple[KnownBug, ...] = (
    KnownBug(
        "a",
        "a deal won again after it was lost or reopened finds its cancelled order, follows "
        "it and writes Cancelled back: no live order",
        frozenset({"won_without_order", "unexplained_exception"}),
        _rewon,
    ),
    KnownBug(
        "a",
        "(the same) any later run of a deal whose order was cancelled adopts the cancelled "
        "order and follows it",
        frozenset({"won_without_order"}),
        lambda model, opp: opp is not None and any(h in SECOND_RUN for h in opp.history),
        about=r"\(Cancelled, .*deal (order_accepted|invoiced) at follow_billing",
    ),
    KnownBug(
        "l",
        "an order cancelled in the ERP while its deal is parked is never recorded once that "
        "run stops (terminated): the feed left it to the deal, and reconciliation ignores "
        "cancelled orders of an opportunity no longer won, so bookings keep it",
        frozenset({"bookings", "ledger_fact"}),
        lambda _, opp: opp is not None and opp.finance_cancelled and "second_run" in opp.history,
        about=r"ERP live order total 0 |has no order\.cancelled",
        consequences=(("write_back", "the ERP order is cancelled"),),
    ),
)


def _name(bug: KnownBug) -> str:
    return f"issue 17 {bug.letter}: {bug.summary}"


def known_bug(violation: Violation, model: Model) -> str | None:
    """``issue 17 <letter>: <summary>`` when a known bug explains the violation."""
    opp = model.opportunities.get(violation.opportunity or "")
    for bug in KNOWN_BUGS:
        if violation.kind not in bug.kinds or not re.search(bug.about, violation.message):
            continue
        if bug.history(model, opp):
            return _name(bug)
    return None


def attribute(violations: list[Violation], model: Model) -> dict[str, str]:
    """Violation text → the known bug that explains it, directly or as a consequence of
    another violation of the same sequence that bug explains."""
    known: dict[str, str] = {}
    where: dict[str, set[str | None]] = {}
    """Bug → the opportunities its violations are about (None: the whole sequence)."""
    for violation in violations:
        if bug_name := known_bug(violation, model):
            known[str(violation)] = bug_name
            where.setdefault(bug_name, set()).add(violation.opportunity)
    for violation in violations:
        if str(violation) in known:
            continue
        for bug in KNOWN_BUGS:
            scope = where.get(_name(bug), set())
            if (None in scope or violation.opportunity in scope) and any(
                violation.kind == kind and re.search(pattern, violation.message)
                for kind, pattern in bug.consequences
            ):
                known[str(violation)] = _name(bug)
                break
    return known
