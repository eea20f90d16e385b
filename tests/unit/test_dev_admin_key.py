"""``syncline dev``'s admin key: made once, kept across restarts while it is live, made
anew (the old one revoked) when dev.env lost it or it was revoked."""

from __future__ import annotations

from pathlib import Path

from store import Store
from store.operator_keys import OperatorKeys
from workers.access.operators import local_operator, revoke_operator
from workers.dev_stack import DEV_ADMIN, OPERATOR_KEY, DevStack, StackOptions, load_env_file


async def test_the_dev_admin_key_is_kept_while_it_is_live(tmp_path: Path) -> None:
    stack = DevStack(StackOptions(workdir=tmp_path))

    async def start() -> str:
        env = stack.environment()  # what a (re)start reads, dev.env included
        await stack.ensure_admin_key(env)
        assert load_env_file(tmp_path / "dev.env")[OPERATOR_KEY] == env[OPERATOR_KEY]
        return env[OPERATOR_KEY]

    first = await start()
    assert await start() == first  # a restart keeps it
    store = Store.from_url(stack.environment()["SYNCLINE_DATABASE_URL"])
    try:
        await revoke_operator(store, DEV_ADMIN, local_operator())
        third = await start()
        assert third != first
        [live] = await OperatorKeys(store).active(DEV_ADMIN)
        assert live.role == "admin" and third.split("_")[1] == live.key_id
    finally:
        await store.close()
    assert "SYNCLINE_API_TOKEN" not in load_env_file(tmp_path / "dev.env")
