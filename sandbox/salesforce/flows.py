"""The org's record-triggered Flows: which committed writes post a callout.

Two Flows post to Syncline's webhook URL through the one outbox (``webhooks.py``):

* **Closed Won** (``opportunity.closed_won``): an opportunity is inserted as, or
  updated to, Closed Won. ``Org`` spots the transition while validating the write.
* **Changed after won** (``opportunity.changed``): an opportunity that was Closed Won
  before the write changes in ``StageName``, ``Amount``, ``CloseDate`` or
  ``CurrencyIsoCode``, or one of its line items is inserted, updated or deleted. The
  write that makes an opportunity Closed Won is the first Flow's alone, and a write
  that touches only other fields (Syncline's own ``Syncline_*`` write-backs) posts
  nothing, or Syncline would be called back for every status it mirrors.

Both read what the statement wrote (``WriteResult.changes``), so a line's re-totalled
opportunity and the line itself make one callout, not two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce.org import RecordChange, WriteResult
from sandbox.salesforce.schema import CLOSED_WON, OPPORTUNITY, OPPORTUNITY_LINE_ITEM
from sandbox.salesforce.store import Records
from sandbox.salesforce.webhooks import Callout, changed_body, closed_won_body, opportunity_callout

Doc = dict[str, Any]

TRACKED_FIELDS: tuple[str, ...] = ("StageName", "Amount", "CloseDate", "CurrencyIsoCode")
"""Opportunity fields whose change after won is news to the ERP order."""

LINE_ITEMS = "OpportunityLineItems"
"""How ``changedFields`` names a change to the lines (the child relationship's name)."""

# Stamped on every save, so a save that changes nothing else is not a line change.
_AUDIT_FIELDS = frozenset({"LastModifiedDate", "LastModifiedById", "SystemModstamp"})


@dataclass
class _Touched:
    """One opportunity across a statement: before its first write, after its last."""

    before: Doc | None
    after: Doc | None
    lines_changed: bool = False
    fields: list[str] = field(default_factory=list)


def _line_changed(change: RecordChange) -> bool:
    if change.old is None or change.new is None:
        return True  # inserted or deleted
    keys = (change.old.keys() | change.new.keys()) - _AUDIT_FIELDS
    return any(change.old.get(k) != change.new.get(k) for k in keys)


def _touched(tx: Records, changes: list[RecordChange]) -> dict[str, _Touched]:
    touched: dict[str, _Touched] = {}
    for change in changes:
        if change.obj is OPPORTUNITY:
            entry = touched.setdefault(change.record_id, _Touched(change.old, change.new))
            entry.after = change.new
    for change in changes:
        if change.obj is OPPORTUNITY_LINE_ITEM and _line_changed(change):
            line = change.new if change.new is not None else change.old
            assert line is not None
            opportunity_id = str(line["OpportunityId"])
            if opportunity_id not in touched:
                current = tx.get(OPPORTUNITY, opportunity_id)
                touched[opportunity_id] = _Touched(current, current)
            touched[opportunity_id].lines_changed = True
    return touched


def _changed_fields(entry: _Touched) -> list[str]:
    assert entry.before is not None and entry.after is not None
    fields = [f for f in TRACKED_FIELDS if entry.before.get(f) != entry.after.get(f)]
    return [*fields, LINE_ITEMS] if entry.lines_changed else fields


def changed_after_won(tx: Records, changes: list[RecordChange]) -> list[tuple[Doc, str, list[str]]]:
    """(opportunity as committed, its stage before, changed fields) per callout due."""
    due = []
    for entry in _touched(tx, changes).values():
        if entry.before is None or entry.after is None:
            continue  # inserted (the Closed Won Flow's business) or deleted
        if entry.before.get("StageName") != CLOSED_WON:
            continue  # never won, or won by this very write
        fields = _changed_fields(entry)
        if fields:
            due.append((entry.after, str(entry.before["StageName"]), fields))
    return due


def flow_callouts(tx: Records, org_id: str, result: WriteResult) -> list[Callout]:
    """Every Flow callout the statement triggers, Closed Won first."""
    bodies = [closed_won_body(org_id, opportunity) for opportunity in result.closed_won]
    bodies += [
        changed_body(org_id, opportunity, previous, fields)
        for opportunity, previous, fields in changed_after_won(tx, result.changes)
    ]
    return [opportunity_callout(body) for body in bodies]
