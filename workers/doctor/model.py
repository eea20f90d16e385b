"""What a check answers, and what the doctor reports for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from workers.doctor.context import DoctorContext

Status = Literal["pass", "fail", "warn", "skip"]


@dataclass(frozen=True)
class Outcome:
    """A check's verdict: ``detail`` says what was found, ``fix`` what to do about it."""

    ok: bool
    detail: str
    fix: str | None = None


def passed(detail: str) -> Outcome:
    return Outcome(True, detail)


def failed(detail: str, fix: str) -> Outcome:
    return Outcome(False, detail, fix)


class Skipped(Exception):
    """A check that could not run because something it needs failed (its own check
    reports why): Temporal unreachable, the CRM login refused…"""


@dataclass(frozen=True)
class Check:
    """One thing a first install needs, checked on its own."""

    name: str
    run: Callable[[DoctorContext], Awaitable[Outcome]]
    fix: str
    """What to do when the check cannot even answer (an error, a timeout)."""
    required: bool = True
    """False for a warning: reported, but a deal can go through without it."""


class CheckResult(BaseModel):
    """One line of the doctor's report; the JSON keys are public (README, "syncline doctor")."""

    check: str = Field(description="stable name, e.g. temporal.search_attributes")
    ok: bool
    required: bool = Field(description="false: a warning, which never fails the doctor")
    status: Status = Field(
        description="pass; fail (required, not ok); warn (not required, not ok); "
        "skip (not run: something it needs failed)"
    )
    detail: str
    fix: str | None = Field(description="what to do, in one sentence; null when ok")
    seconds: float


def exit_code(results: Iterable[CheckResult]) -> int:
    """0 when everything a deal needs is in place; warnings do not count."""
    return 1 if any(r.required and not r.ok for r in results) else 0
