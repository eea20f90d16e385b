"""The cache of initialised Tryton databases, so that only the first init pays ~30 s.

An entry is keyed by the installed Tryton versions, the setup code and the
catalog. SQLite entries are files under the cache folder; PostgreSQL entries
are template databases on the server (``syncline_tryton_tpl_<key12>``) whose
comment holds the setup. Builders of the same key wait on a file lock, and an
entry appears under its final name in one rename, so a crash leaves no half.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

Portable = dict[str, Any]


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "syncline" / "tryton"


def key(sources: list[Path], catalog_json: str) -> str:
    digest = hashlib.sha256()
    versions = sorted(
        f"{dist.metadata['Name'].lower()}=={dist.version}"
        for dist in metadata.distributions()
        if dist.metadata["Name"]
        and dist.metadata["Name"].lower().replace("_", "-").startswith(("trytond", "proteus"))
    )
    digest.update("\n".join(versions).encode())
    for source in sources:
        digest.update(source.read_bytes())
    digest.update(catalog_json.encode())
    return digest.hexdigest()


class Target(Protocol):
    """Where a workdir's database lives, and how it is copied to and from the cache."""

    def clear(self) -> None: ...
    def create_empty(self) -> None: ...
    def restore(self, cache_dir: Path, key: str) -> Portable | None: ...
    def publish(self, cache_dir: Path, key: str, portable: Portable) -> None: ...


def obtain(
    cache_dir: Path,
    key: str,
    target: Target,
    build: Callable[[], Portable],
    portable_fields: tuple[str, ...],
) -> Portable:
    """Restore ``target`` from the cache, or build it and fill the cache."""
    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(cache_dir / f"{key[:16]}.lock"):
        cached = target.restore(cache_dir, key)
        if cached is not None:
            return cached
        built = build()
        target.publish(cache_dir, key, {name: built[name] for name in portable_fields})
        return built


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


class SqliteTarget:
    def __init__(self, path: Path) -> None:
        self.path = path

    def clear(self) -> None:
        # Left by an init that died before writing tryton.json.
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def create_empty(self) -> None:
        # trytond creates tables in an existing file only.
        self.path.touch()

    def restore(self, cache_dir: Path, key: str) -> Portable | None:
        entry = cache_dir / key
        if not entry.is_dir():
            return None
        shutil.copyfile(entry / "database.sqlite", self.path)
        portable: Portable = json.loads((entry / "setup.json").read_text())
        return portable

    def publish(self, cache_dir: Path, key: str, portable: Portable) -> None:
        staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".staging-"))
        try:
            # The backup API also takes what still sits in the WAL file.
            with (
                closing(sqlite3.connect(self.path)) as source,
                closing(sqlite3.connect(staging / "database.sqlite")) as copy,
            ):
                source.backup(copy)
            (staging / "setup.json").write_text(json.dumps(portable))
            os.chmod(staging, 0o700)
            staging.rename(cache_dir / key)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


class PostgresTarget:
    def __init__(self, db_uri: str, database: str) -> None:
        self.database = database
        parts = urlsplit(db_uri)
        # Creating and copying databases happens from the maintenance database.
        self._admin_uri = urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))

    def clear(self) -> None:
        with self._connect() as connection:
            if _database_exists(connection, self.database):
                raise RuntimeError(
                    f"PostgreSQL database {self.database!r} exists but this workdir was"
                    " never initialised: drop it or choose another name"
                )

    def create_empty(self) -> None:
        self._create(self.database, "template0")

    def restore(self, cache_dir: Path, key: str) -> Portable | None:
        del cache_dir  # the entry lives on the server
        template = template_name(key)
        with self._connect() as connection:
            row = connection.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                [template],
            ).fetchone()
        if row is None or row[0] is None:
            return None
        self._create(self.database, template)
        portable: Portable = json.loads(row[0])
        return portable

    def publish(self, cache_dir: Path, key: str, portable: Portable) -> None:
        from psycopg import errors, sql

        del cache_dir
        staging = f"{template_name(key)}_staging_{secrets.token_hex(4)}"
        self._create(staging, self.database)
        name = sql.Identifier(staging)
        with self._connect() as connection:
            connection.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    name, sql.Literal(json.dumps(portable))
                )
            )
            # A template is hidden from trytond's database list and takes no
            # connections, so copying it never finds it busy.
            connection.execute(
                sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(
                    name
                )
            )
            try:
                connection.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        name, sql.Identifier(template_name(key))
                    )
                )
            except errors.DuplicateDatabase:
                connection.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(name))
                connection.execute(sql.SQL("DROP DATABASE {}").format(name))

    def _create(self, name: str, template: str) -> None:
        from psycopg import sql

        with self._connect() as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} ENCODING 'UTF8'").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        import psycopg

        return psycopg.connect(self._admin_uri, autocommit=True)


def template_name(key: str) -> str:
    return f"syncline_tryton_tpl_{key[:12]}"


def _database_exists(connection: psycopg.Connection[tuple[Any, ...]], name: str) -> bool:
    row = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return row is not None
