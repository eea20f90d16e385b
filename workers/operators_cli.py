"""``syncline operators add|list|revoke``: personal API keys, straight in Syncline's
database (its credentials are the trust this needs). Part of the CLI, so it prints; the
one place a key is ever shown, once, as it is made."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from models.operators import Operator, Role

if TYPE_CHECKING:
    from store import Store

console = Console()


def add_commands(commands: Any) -> None:
    operators = commands.add_parser(
        "operators", help="personal API keys: add one (shown once), list them, revoke one"
    )
    actions = operators.add_subparsers(dest="operators_action", required=True)
    add = actions.add_parser("add", help="make a key for a person and show it once")
    add.add_argument("name", help="who it is for, e.g. alice or alice@example.com")
    add.add_argument(
        "--role",
        required=True,
        choices=[role.value for role in Role],
        help="viewer: read; operator: also retry and reconcile; admin: also audit and keys",
    )
    actions.add_parser("list", help="every key: whose, role, created, revoked (no secrets)")
    revoke = actions.add_parser("revoke", help="revoke a person's live key, or one key by id")
    revoke.add_argument("name_or_key_id")


async def run(args: argparse.Namespace, database_url: str) -> int:
    from store import Store
    from workers.access.operators import local_operator

    store = Store.from_url(database_url)
    try:
        await store.migrate()
        me = local_operator()
        if args.operators_action == "add":
            return await _add(store, args.name, Role(args.role), me)
        if args.operators_action == "revoke":
            return await _revoke(store, args.name_or_key_id, me)
        return await _list(store)
    finally:
        await store.close()


async def _add(store: Store, name: str, role: Role, me: Operator) -> int:
    from workers.access.operators import OperatorExists, add_operator

    try:
        issued = await add_operator(store, name, role, me)
    except (OperatorExists, ValueError) as refused:
        console.print(f"[red]not added[/red]: {refused}")
        return 1
    console.print(f"{name} added as {role} (key id {issued.key_id}). Their key, shown only now:")
    # soft_wrap: a key broken over two lines would be copied broken.
    console.print(issued.key, soft_wrap=True, highlight=False)
    console.print(
        "Hand it over privately; Syncline keeps only its hash. It signs in to the console "
        "and is sent as Authorization: Bearer <key> (SYNCLINE_OPERATOR_KEY for the CLI)."
    )
    return 0


async def _revoke(store: Store, name_or_key_id: str, me: Operator) -> int:
    from workers.access.operators import revoke_operator

    revoked = await revoke_operator(store, name_or_key_id, me)
    if not revoked:
        console.print(f"[red]no live key[/red] for {name_or_key_id}")
        return 1
    for row in revoked:
        console.print(f"revoked key {row.key_id} of {row.operator}: refused from now on")
    return 0


async def _list(store: Store) -> int:
    from store.operator_keys import OperatorKeys

    rows = await OperatorKeys(store).every()
    table = Table(title=f"{len(rows)} keys")
    for column in ("operator", "role", "key id", "created", "by", "revoked", "by"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.operator,
            row.role,
            row.key_id,
            row.created_at.isoformat(timespec="seconds"),
            row.created_by,
            row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else "-",
            row.revoked_by or "-",
        )
    console.print(table)
    return 0
