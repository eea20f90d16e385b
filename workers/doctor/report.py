"""The doctor's report as text (one line per check, the fix under a failure) or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

from workers.doctor.model import CheckResult, exit_code

_MARKS = {"pass": "✓", "fail": "✗", "warn": "!", "skip": "-"}
_COLOURS = {"pass": "32", "fail": "31", "warn": "33", "skip": "2"}


def render_json(results: Sequence[CheckResult]) -> str:
    return json.dumps([r.model_dump() for r in results], indent=2, ensure_ascii=False)


def render_text(results: Sequence[CheckResult], *, colour: bool = False) -> str:
    width = max((len(r.check) for r in results), default=0)
    lines: list[str] = []
    for r in results:
        mark = _MARKS[r.status]
        if colour:
            mark = f"\033[{_COLOURS[r.status]}m{mark}\033[0m"
        warning = " (warning)" if r.status == "warn" else ""
        lines.append(f"{mark} {r.check:<{width}}  {r.detail}{warning}")
        if r.fix and r.status != "skip":
            lines.append(f"  {'':<{width}}  fix: {r.fix}")
    lines.append(_summary(results))
    return "\n".join(lines) + "\n"


def _summary(results: Sequence[CheckResult]) -> str:
    counts = {status: sum(r.status == status for r in results) for status in _MARKS}
    parts = [f"{counts['pass']} passed"]
    parts += [f"{counts['fail']} failed"] if counts["fail"] else []
    parts += (
        [f"{counts['warn']} warning{'s' if counts['warn'] != 1 else ''}"] if counts["warn"] else []
    )
    parts += [f"{counts['skip']} not checked"] if counts["skip"] else []
    verdict = "ready for a first deal" if exit_code(results) == 0 else "not ready for a first deal"
    return f"{', '.join(parts)}: {verdict}"
