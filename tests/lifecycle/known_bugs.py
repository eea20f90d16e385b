"""Known bugs (issue 17), by the violations they cause and the history that causes them.

The CI budget fails only on violations none of these explains, so it stays green while
a known bug is open and still catches anything new. Each entry is narrow: a kind of
violation *and* the history that produces it. Fixing a bug: delete its entry here and
the ``xfail`` marker of its regression in ``test_regressions.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from tests.lifecycle.model import Model, Opportunity, Violation


@dataclass(frozen=True)
class KnownBug:
    letter: str
    summary: str
    kinds: frozenset[str]
    history: Callable[[Opportunity], bool]
    """Whether the opportunity's history is the one that causes it."""
    about: str = ""
    """A phrase the violation's message must contain (empty: any)."""


def _rewon(opp: Opportunity) -> bool:
    """Won, then lost or reopened, then won again."""
    stages = [h for h in opp.history if h in ("won", "lost", "reopened")]
    return any(
        a == "won" and b in ("lost", "reopened") and "won" in stages[i + 2 :]
        for i, (a, b) in enumerate(itertools.pairwise(stages))
    )


def _after(first: tuple[str, ...], then: tuple[str, ...]) -> Callable[[Opportunity], bool]:
    def matches(opp: Opportunity) -> bool:
        starts = [i for i, h in enumerate(opp.history) if h in first]
        return bool(starts) and any(h in then for h in opp.history[starts[0] + 1 :])

    return matches


KNOWN_BUGS: tuple[KnownBug, ...] = (
    KnownBug(
        "a",
        "re-won deal: the second run finds the cancelled order and follows it",
        frozenset({"won_without_order", "unexplained_exception"}),
        _rewon,
    ),
)


def known_bug(violation: Violation, model: Model) -> str | None:
    """``issue 17 <letter>: <summary>`` when a known bug explains the violation."""
    opp = model.opportunities.get(violation.opportunity or "")
    for bug in KNOWN_BUGS:
        if violation.kind not in bug.kinds or bug.about not in violation.message:
            continue
        if opp is None or bug.history(opp):
            return f"issue 17 {bug.letter}: {bug.summary}"
    return None
