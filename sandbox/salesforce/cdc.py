"""Change Data Capture: one change event per captured record change, relayed through the
callout outbox and, for the entities the event bus carries, published there for the
Pub/Sub API (``event_bus.py``). Off unless entities are named.

With ``cdc_entities=("Account",)`` every create, update and delete of an account enqueues
the event a CDC subscriber (a CometD/Pub/Sub relay) would forward to Syncline::

    {"data": {"schema": "<schema id>",
              "payload": {"ChangeEventHeader": {...}, "<Field>": <new value>, ...},
              "event": {"replayId": 12}},
     "channel": "/data/AccountChangeEvent"}

The header follows Salesforce: ``entityName``, ``recordIds``, ``changeType``
(CREATE/UPDATE/DELETE), ``changedFields``, ``nulledFields``, ``diffFields``,
``changeOrigin``, ``transactionKey``, ``sequenceNumber`` (1.. within the transaction),
``commitTimestamp`` (epoch ms), ``commitUser`` and ``commitNumber``. As in Salesforce, a
CREATE carries every non-null field and an empty ``changedFields``; an UPDATE carries
only the fields whose value changed (``LastModifiedDate`` among them), those that became
null listed in ``nulledFields`` too; a DELETE carries the header alone.

``changeOrigin`` is how a subscriber tells its own writes apart: a REST request with
``Sforce-Call-Options: client=<name>`` commits as
``com/salesforce/api/rest/59.0;client=<name>``, any other as
``com/salesforce/api/rest/59.0``.

Simplifications, on purpose: compound fields stay flat (real CDC nests
``BillingAddress: {"Street", "City", ...}`` and names ``BillingAddress.City`` in
``changedFields``; here they are ``BillingStreet``, ``BillingCity``, ...), values keep
the REST API's formats (datetimes as ``2026-11-23T10:00:00.000+0000``), and ``replayId``
counts per channel from 1 for the life of the database file (``/admin/reset`` keeps it,
as a real org never reuses one).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.salesforce.avro_schemas import change_event_schema, payload_field_names
from sandbox.salesforce.org import RecordChange
from sandbox.salesforce.schema import API_VERSION, ObjectDef, find_object
from sandbox.salesforce.store import Records
from sandbox.salesforce.webhooks import Callout

CDC_ENV_VAR = "SYNCLINE_SANDBOX_CDC"
CALL_OPTIONS_HEADER = "Sforce-Call-Options"
API_ORIGIN = f"com/salesforce/api/rest/{API_VERSION}"

_ENTITY_SPLIT = re.compile(r"[,\s]+")


def canonical_entities(names: Iterable[str]) -> tuple[str, ...]:
    """The sObject names as the schema spells them; raises ``ValueError`` on unknown ones."""
    canonical: list[str] = []
    for name in names:
        obj = find_object(name.strip())
        if obj is None:
            raise ValueError(f"no sObject {name!r} to capture changes of")
        if obj.name not in canonical:
            canonical.append(obj.name)
    return tuple(canonical)


def entities_from_env(
    env: Mapping[str, str] | None = None, name: str = CDC_ENV_VAR
) -> tuple[str, ...]:
    """``SYNCLINE_SANDBOX_CDC=Account,Opportunity`` (commas or spaces); unset means off."""
    raw = (os.environ if env is None else env).get(name, "")
    return canonical_entities(name for name in _ENTITY_SPLIT.split(raw) if name)


def call_options_client(header: str | None) -> str | None:
    """The ``client`` option of a ``Sforce-Call-Options`` header (``client=syncline,
    defaultNamespace=x``), or None."""
    for option in (header or "").split(","):
        key, _, value = option.partition("=")
        if key.strip().lower() == "client" and value.strip():
            return value.strip()
    return None


def change_origin(client: str | None) -> str:
    return f"{API_ORIGIN};client={client}" if client else API_ORIGIN


def channel(obj: ObjectDef) -> str:
    """``/data/AccountChangeEvent``; a custom object ``Foo__c`` has ``Foo__ChangeEvent``."""
    custom = obj.name.endswith("__c")
    base = obj.name.removesuffix("__c") + "__" if custom else obj.name
    return f"/data/{base}ChangeEvent"


def schema_id(obj: ObjectDef) -> str:
    """The id of the entity's change event schema: the one the event bus serves by id
    (``GetSchema``), stable while the object's fields stay the same."""
    return change_event_schema(obj).schema_id


def _change_type(change: RecordChange) -> str:
    if change.old is None:
        return "CREATE"
    return "DELETE" if change.new is None else "UPDATE"


def _fields(change: RecordChange) -> tuple[list[str], dict[str, Any]]:
    """(changedFields, field values for the payload) of one change, in schema order."""
    names = payload_field_names(change.obj)
    if change.new is None:
        return [], {}
    if change.old is None:
        return [], {n: change.new[n] for n in names if change.new.get(n) is not None}
    changed = [n for n in names if change.old.get(n) != change.new.get(n)]
    return changed, {n: change.new.get(n) for n in changed}


@dataclass(frozen=True)
class CapturedChange:
    """One change event as the org commits it, before any channel shapes it: the relay
    posts it as CometD JSON, the event bus (``event_bus.py``) encodes it in Avro."""

    obj: ObjectDef
    record_id: str
    header: dict[str, Any]
    """``ChangeEventHeader`` with field names (the bus turns them into bitmaps)."""
    values: dict[str, Any]
    """What the relay sends: every non-null field of a CREATE, the changed ones of an
    UPDATE, nothing for a DELETE."""


class ChangeDataCapture:
    """Turns a statement's record changes into change events: for the entities the relay
    posts (``relayed``) and those the Pub/Sub event bus carries (``published``).

    In an org both are simply the entities selected for change data capture; the sandbox
    lets a stack choose them apart, so that a test relaying accounts over the webhook is
    not also sent every opportunity."""

    def __init__(
        self, entities: Sequence[str], commit_user: str, published: Sequence[str] = ()
    ) -> None:
        self.entities = frozenset(canonical_entities(entities))
        self.published = frozenset(canonical_entities(published))
        self._commit_user = commit_user

    @property
    def enabled(self) -> bool:
        return bool(self.entities)

    def capture(
        self, tx: Records, changes: Sequence[RecordChange], client: str | None
    ) -> list[CapturedChange]:
        """One event per captured change, sharing the transaction's key and commit."""
        wanted = self.entities | self.published
        captured = [c for c in changes if c.obj.name in wanted]
        if not captured:
            return []
        commit = {
            "changeOrigin": change_origin(client),
            "transactionKey": str(uuid.uuid4()),
            "commitTimestamp": int(time.time() * 1000),
            "commitUser": self._commit_user,
            "commitNumber": _next(tx, "cdc_commit_number"),
        }
        return [
            _captured(change, sequence, commit) for sequence, change in enumerate(captured, start=1)
        ]

    def callouts(self, tx: Records, captured: Sequence[CapturedChange]) -> list[Callout]:
        """The relay's outbox rows, for the relayed entities, each with its replay id."""
        return [self._callout(tx, c) for c in captured if c.obj.name in self.entities]

    def _callout(self, tx: Records, change: CapturedChange) -> Callout:
        name = channel(change.obj)
        replay_id = _next(tx, f"cdc_replay_id:{name}")
        body = {
            "data": {
                "schema": schema_id(change.obj),
                "payload": {"ChangeEventHeader": change.header, **change.values},
                "event": {"replayId": replay_id},
            },
            "channel": name,
        }
        return Callout(change.record_id, name, f"{name}:{replay_id}", body)


def _captured(change: RecordChange, sequence: int, commit: dict[str, Any]) -> CapturedChange:
    changed, values = _fields(change)
    header = {
        "entityName": change.obj.name,
        "recordIds": [change.record_id],
        "changeType": _change_type(change),
        "changedFields": changed,
        "nulledFields": [n for n in changed if values[n] is None],
        "diffFields": [],
        "sequenceNumber": sequence,
        **commit,
    }
    return CapturedChange(change.obj, change.record_id, header, values)


def _next(tx: Records, key: str) -> int:
    """The next value of a counter kept in the org's meta table (same transaction)."""
    value = int(tx.get_meta(key) or 0) + 1
    tx.set_meta(key, str(value))
    return value
