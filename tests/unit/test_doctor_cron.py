"""A Schedule's calendar, as Temporal describes it, against the cron it was made from."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import (
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleRange,
    ScheduleSpec,
)

from workers.doctor.cron import cron_instants, cron_matches


def _calendar(**fields: tuple[ScheduleRange, ...]) -> ScheduleSpec:
    """How Temporal describes a compiled cron: every field spelled out, the year empty."""
    values: dict[str, tuple[ScheduleRange, ...]] = {
        "second": (ScheduleRange(0),),
        "minute": (ScheduleRange(0),),
        "hour": (ScheduleRange(0),),
        "day_of_month": (ScheduleRange(1, 31),),
        "month": (ScheduleRange(1, 12),),
        "day_of_week": (ScheduleRange(0, 6),),
        **fields,
    }
    return ScheduleSpec(calendars=[ScheduleCalendarSpec(**values)], time_zone_name="UTC")


NIGHTLY = _calendar(hour=(ScheduleRange(2, 2),))


@pytest.mark.parametrize(
    ("cron", "matches"),
    [
        ("0 2 * * *", True),
        ("0 3 * * *", False),
        ("0 2 * * 1-5", False),
        ("@daily", False),
        ("0 2,2 * * 0-7", True),  # 7 is Sunday, as 0 is
        ("0 2 1 * *", False),
    ],
)
def test_a_nightly_calendar(cron: str, matches: bool) -> None:
    assert cron_matches(NIGHTLY, cron) is matches


def test_steps_names_and_ranges() -> None:
    spec = _calendar(
        minute=(ScheduleRange(0, 45, 15),),
        hour=(ScheduleRange(9, 17),),
        month=(ScheduleRange(1, 3),),
        day_of_week=(ScheduleRange(1, 5),),
    )
    assert cron_matches(spec, "*/15 9-17 * JAN-MAR mon-fri") is True
    assert cron_matches(spec, "*/20 9-17 * JAN-MAR mon-fri") is False


def test_forms_not_read_here_are_not_judged() -> None:
    assert cron_instants("0 0 2 * * *") is None  # six fields
    assert cron_matches(NIGHTLY, "0 2 L * *") is None
    two = ScheduleSpec(calendars=[*NIGHTLY.calendars, *NIGHTLY.calendars])
    assert cron_matches(two, "0 2 * * *") is None


def test_a_schedule_changed_to_an_interval_does_not_match() -> None:
    spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))])
    assert cron_matches(spec, "0 2 * * *") is False


def test_a_schedule_still_holding_its_cron_string() -> None:
    assert cron_matches(ScheduleSpec(cron_expressions=["0 2 * * *"]), "0 2 * * *") is True
