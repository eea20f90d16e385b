"""Whether a Schedule's calendar is the cron it was created from.

Temporal compiles a Schedule's cron string into calendar ranges and describes only those,
so the configured ``SYNCLINE_RECONCILE_CRON`` is compared as the set of instants each
field allows. The common forms are read (five fields, ``*``, lists, ranges, steps, month
and day names, ``@daily`` and its kin); for any other, ``cron_matches`` says it cannot
tell (None) rather than guess.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.client import ScheduleCalendarSpec, ScheduleRange, ScheduleSpec

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (lowest, highest, names) of minute, hour, day of month, month, day of week.
_FIELDS: tuple[tuple[int, int, Sequence[str]], ...] = (
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, _MONTHS),
    (0, 7, _DAYS),
)

Instants = tuple[frozenset[int], ...]
"""Allowed values of second, minute, hour, day of month, month and day of week."""


def _value(text: str, low: int, names: Sequence[str]) -> int:
    upper = text.upper()
    if upper in names:
        return names.index(upper) + (low if names is _MONTHS else 0)
    return int(text)


def _field(text: str, low: int, high: int, names: Sequence[str]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if spec in ("*", "?"):
            start, end = low, high
        elif "-" in spec:
            first, _, last = spec.partition("-")
            start, end = _value(first, low, names), _value(last, low, names)
        else:
            start = _value(spec, low, names)
            end = high if step_text else start
        if not (low <= start <= end <= high) or step < 1:
            raise ValueError(f"{part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def cron_instants(cron: str) -> Instants | None:
    """The instants a five-field cron allows, or None for a form not read here."""
    text = _DESCRIPTORS.get(cron.strip().lower(), cron.strip())
    parts = text.split()
    if len(parts) != 5:
        return None
    try:
        fields = [
            _field(part, low, high, names)
            for part, (low, high, names) in zip(parts, _FIELDS, strict=True)
        ]
    except ValueError:
        return None
    days_of_week = frozenset(day % 7 for day in fields[4])  # 7 is Sunday too
    return (frozenset({0}), *fields[:4], days_of_week)


def _ranges(ranges: Sequence[ScheduleRange], low: int, high: int) -> frozenset[int]:
    if not ranges:
        return frozenset(range(low, high + 1))
    values: set[int] = set()
    for r in ranges:
        values.update(range(r.start, max(r.end, r.start) + 1, max(r.step, 1)))
    return frozenset(values)


def calendar_instants(calendar: ScheduleCalendarSpec) -> Instants | None:
    """The instants one calendar allows; None when it also restricts the year."""
    if calendar.year:
        return None
    return (
        _ranges(calendar.second, 0, 59),
        _ranges(calendar.minute, 0, 59),
        _ranges(calendar.hour, 0, 23),
        _ranges(calendar.day_of_month, 1, 31),
        _ranges(calendar.month, 1, 12),
        _ranges(calendar.day_of_week, 0, 6),
    )


def cron_matches(spec: ScheduleSpec, cron: str) -> bool | None:
    """Whether the Schedule runs exactly when ``cron`` says; None when it cannot tell."""
    if spec.cron_expressions:
        return list(spec.cron_expressions) == [cron]
    wanted = cron_instants(cron)
    if wanted is None:
        return None
    if spec.intervals or not spec.calendars:
        return False
    if len(spec.calendars) > 1:
        return None
    return calendar_instants(spec.calendars[0]) == wanted
