"""Known bugs (issue 17), by the violations they cause and the history that causes them.

The CI budget fails only on violations none of these explains, so it stays green while
a known bug is open and still catches anything new. Each entry is narrow: a kind of
violation *and* the history that produces it. Fixing a bug: delete its entry here and
the ``xfail`` marker of its regression in ``test_regressions.py``.
"""

from __future__ import annotations

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


KNOWN_BUGS: tuple[KnownBug, ...] = ()
"""Open bugs the model found: none; a to o (issue 17) are fixed. A bug found goes here,
with its regression marked ``xfail(strict=True)``, until it is fixed."""


def _name(bug: KnownBug) -> str:
    return f"issue 17 {bug.letter}: {bug.summary}"


def known_bug(
    violation: Violation, model: Model, bugs: tuple[KnownBug, ...] = KNOWN_BUGS
) -> str | None:
    """``issue 17 <letter>: <summary>`` when a known bug explains the violation."""
    opp = model.opportunities.get(violation.opportunity or "")
    for bug in bugs:
        if violation.kind not in bug.kinds or not re.search(bug.about, violation.message):
            continue
        if bug.history(model, opp):
            return _name(bug)
    return None


def attribute(
    violations: list[Violation], model: Model, bugs: tuple[KnownBug, ...] = KNOWN_BUGS
) -> dict[str, str]:
    """Violation text → the known bug that explains it, directly or as a consequence of
    another violation of the same sequence that bug explains."""
    known: dict[str, str] = {}
    where: dict[str, set[str | None]] = {}
    """Bug → the opportunities its violations are about (None: the whole sequence)."""
    for violation in violations:
        if bug_name := known_bug(violation, model, bugs):
            known[str(violation)] = bug_name
            where.setdefault(bug_name, set()).add(violation.opportunity)
    for violation in violations:
        if str(violation) in known:
            continue
        for bug in bugs:
            scope = where.get(_name(bug), set())
            if (None in scope or violation.opportunity in scope) and any(
                violation.kind == kind and re.search(pattern, violation.message)
                for kind, pattern in bug.consequences
            ):
                known[str(violation)] = _name(bug)
                break
    return known
