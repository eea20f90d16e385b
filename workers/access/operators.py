"""Adding and revoking operators' personal keys from the machine that holds the
database's credentials (``syncline operators``, and ``syncline dev`` for its demo admin).

Whoever can write to the database is trusted already; so that is where keys are made,
and no running API needs a credential before the first one exists. Each change is a
row of the audit trail under the local user's name.
"""

from __future__ import annotations

import getpass
import re
import socket
from collections.abc import Sequence

from models.operators import AuditAction, AuditOutcome, Operator, Role, SignIn
from models.tables import AuditRow, OperatorKeyRow
from store import Store
from store.audit import AuditTrail
from store.operator_keys import OperatorKeys
from workers.access.keys import IssuedKey, new_key

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


class OperatorExists(Exception):
    """The name already has a live key: revoke it first (one key per person)."""


def local_operator() -> Operator:
    """The person at this terminal, as the audit trail names them."""
    return Operator(name=f"local:{getpass.getuser()}", role=Role.ADMIN, sign_in=SignIn.LOCAL)


def local_address() -> str:
    return f"cli@{socket.gethostname()}"


def valid_name(name: str) -> bool:
    """Letters, digits and ``._@+-``: an e-mail address fits, so does a short handle."""
    return _NAME.match(name) is not None


async def add_operator(store: Store, name: str, role: Role, by: Operator) -> IssuedKey:
    """A new key for ``name``; its secret is in the result only, never stored."""
    if not valid_name(name):
        raise ValueError(f"{name!r} is not a usable operator name (letters, digits, ._@+-)")
    keys = OperatorKeys(store)
    if await keys.active(name):
        raise OperatorExists(f"{name} already has a live key; revoke it first")
    issued = new_key()
    await keys.add(
        OperatorKeyRow(
            key_id=issued.key_id,
            operator=name,
            role=role,
            secret_sha256=issued.sha256,
            created_by=by.name,
        )
    )
    await record_local(
        store, by, AuditAction.OPERATOR_ADDED, name, detail={"key_id": issued.key_id, "role": role}
    )
    return issued


async def revoke_operator(
    store: Store, name_or_key_id: str, by: Operator
) -> Sequence[OperatorKeyRow]:
    revoked = await OperatorKeys(store).revoke(name_or_key_id, revoked_by=by.name)
    await record_local(
        store,
        by,
        AuditAction.OPERATOR_REVOKED,
        name_or_key_id,
        outcome=AuditOutcome.DONE if revoked else AuditOutcome.FAILED,
        reason=None if revoked else "no live key",
        detail={"key_ids": [row.key_id for row in revoked]},
    )
    return revoked


async def record_local(
    store: Store,
    by: Operator,
    action: str,
    target: str | None,
    *,
    outcome: AuditOutcome = AuditOutcome.DONE,
    reason: str | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    """One audit row for something done at this terminal rather than through the API."""
    await AuditTrail(store).append(
        AuditRow(
            actor=by.name,
            role=by.role,
            sign_in=by.sign_in,
            action=action,
            target=target,
            address=local_address(),
            outcome=outcome,
            reason=reason,
            detail=detail or {},
        )
    )
