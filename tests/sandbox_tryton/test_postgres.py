"""The same bootstrap on PostgreSQL: built once into a template database, then copied.

The template stays on the server as the cache, so only the first run pays for
the build (about a minute); the databases a test copies are dropped afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from sandbox.tryton.accountant import TrytonAccountant
from sandbox.tryton.bootstrap import TrytonSetup, init_database
from sandbox.tryton.server import running_trytond
from tests.conftest import postgres_url

from .helpers import SKU, b64json, create_party, create_sale, unique

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _needs_postgres() -> None:
    """Skips, or fails in CI, before any database is named (not a skipif mark: see
    ``postgres_url``)."""
    postgres_url()


def server_uri(path: str = "/") -> str:
    """The test URL (postgresql+asyncpg://…/syncline_test) as a plain server URI."""
    parts = urlsplit(postgres_url())
    return urlunsplit(("postgresql", parts.netloc, path, "", ""))


def drop_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_uri("/postgres"), autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def database_names() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        drop_database(name)


def init(workdir: Path, database: str, cache_dir: Path) -> TrytonSetup:
    return init_database(workdir, database=database, db_uri=server_uri(), cache_dir=cache_dir)


async def test_postgres_database_from_template_sells_and_gets_paid(
    tmp_path: Path, database_names: list[str]
) -> None:
    first, second = unique("syncline_pg").replace("-", "_"), unique("syncline_pg").replace("-", "_")
    database_names.extend([first, second])
    init(tmp_path / "first", first, tmp_path / "cache")
    started = time.monotonic()
    setup = init(tmp_path / "second", second, tmp_path / "cache")
    assert time.monotonic() - started < 5

    with running_trytond(setup, tmp_path / "trytond.log") as server:
        headers = {
            "Authorization": f"Bearer {setup.application_key}",
            "X-Tryton-Context": b64json({"company": setup.company_id}),
        }
        async with (
            httpx.AsyncClient(base_url=server.rest_url, headers=headers, timeout=30) as rest,
            TrytonAccountant(
                server.base_url, setup.database, setup.admin_login, setup.admin_password
            ) as accountant,
        ):
            party = await create_party(rest, unique("CRM"), with_address=True)
            created = await create_sale(rest, setup, party, SKU, quantity=1)
            assert created.status_code == 200, created.text
            sale_id = created.json()["id"]
            for button in ("quote", "confirm"):
                assert (await rest.post(f"/model/sale.sale/{sale_id}/{button}")).status_code == 200

            (invoice,) = await accountant.invoices_for_sale(sale_id)
            await accountant.post_invoice(invoice["id"])
            await accountant.pay_invoice(invoice["id"], Decimal("1188.00"))
            (paid,) = await accountant.invoices_for_sale(sale_id)
            assert paid["state"] == "paid"
