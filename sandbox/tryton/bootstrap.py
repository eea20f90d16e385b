"""Creates a ready-to-use Tryton database from nothing, without a terminal.

``init_database(workdir)`` writes ``trytond.conf``, creates the database with
trytond-admin, fills it (company, accounts, fiscal years, catalog, REST user)
in a child process and records the result in ``workdir/tryton.json``. A fresh
build takes about half a minute, so the result is cached per Tryton version,
setup code and catalog, and later workdirs start from a copy.

    python -m sandbox.tryton.bootstrap --dir DIR [--database NAME]
        [--db-uri postgresql://user@127.0.0.1:PORT/] [--cache-dir D] [--no-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from sandbox.catalog import DEFAULT_CATALOG
from sandbox.tryton import _cache

SETUP_FILE = "tryton.json"
CONFIG_FILE = "trytond.conf"
MODULES = ("sale", "sale_opportunity", "account_payment")
COMPANY_NAME = "Syncline Demo Co"
CURRENCY = "USD"
ADMIN_LOGIN = "admin"
ADMIN_EMAIL = "admin@example.com"
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TrytonSetup:
    database: str
    data_dir: Path
    config_file: Path
    application_key: str
    admin_login: str
    admin_password: str
    company_id: int
    currency: str = CURRENCY

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "data_dir": str(self.data_dir),
            "config_file": str(self.config_file),
        }

    def save(self, workdir: Path) -> None:
        _write_private(workdir / SETUP_FILE, json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, workdir: Path) -> TrytonSetup:
        data = json.loads((workdir / SETUP_FILE).read_text())
        return cls(
            **{
                **data,
                "data_dir": Path(data["data_dir"]),
                "config_file": Path(data["config_file"]),
            }
        )


# What a copy of a database shares with its original: everything but locations.
_PORTABLE_FIELDS = tuple(
    field.name for field in fields(TrytonSetup) if field.name not in {"data_dir", "config_file"}
)


def init_database(
    workdir: Path,
    *,
    database: str = "syncline",
    db_uri: str | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> TrytonSetup:
    """Initialise ``workdir`` once; an initialised workdir returns its saved setup."""
    workdir = workdir.resolve()
    if (workdir / SETUP_FILE).exists():
        return TrytonSetup.load(workdir)
    data_dir = workdir / "db"
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    config_file = _write_config(workdir / CONFIG_FILE, data_dir, db_uri)
    target = _target(database, data_dir, db_uri)
    target.clear()

    def build() -> dict[str, Any]:
        target.create_empty()
        return _build(config_file, database, workdir)

    if use_cache:
        portable = _cache.obtain(
            cache_dir or _cache.default_dir(), _cache_key(), target, build, _PORTABLE_FIELDS
        )
    else:
        portable = build()
    setup = TrytonSetup(
        **{**portable, "database": database, "data_dir": data_dir, "config_file": config_file}
    )
    setup.save(workdir)
    return setup


def trytond_argv(setup: TrytonSetup, host: str, port: int) -> list[str]:
    """The command that serves ``setup`` on ``host:port`` (werkzeug, threaded).

    trytond takes its listen address from config or environment only, hence
    ``env``. ``-d`` loads the models before the socket opens; without it the
    first login fails.
    """
    return [
        "env",
        f"TRYTOND_WEB__LISTEN={_netloc_host(host)}:{port}",
        sys.executable,
        "-m",
        "trytond.cli",
        "-c",
        str(setup.config_file),
        "-d",
        setup.database,
    ]


def rest_base_url(host: str, port: int, database: str) -> str:
    return f"http://{_netloc_host(host)}:{port}/{database}/rest"


def _netloc_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _target(database: str, data_dir: Path, db_uri: str | None) -> _cache.Target:
    if db_uri is None:
        return _cache.SqliteTarget(data_dir / f"{database}.sqlite")
    return _cache.PostgresTarget(db_uri, database)


def _write_config(path: Path, data_dir: Path, db_uri: str | None) -> Path:
    # The SQLite folder comes from [database] path; a path inside the URI is ignored.
    # [web] listen is left out so that each server start can choose its address.
    _write_private(path, f"[database]\nuri = {db_uri or 'sqlite://'}\npath = {data_dir}\n")
    return path


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only, replacing ``path`` atomically."""
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as file:
        file.write(text)
    os.replace(temp_name, path)


def _build(config_file: Path, database: str, workdir: Path) -> dict[str, Any]:
    admin_password = secrets.token_urlsafe(24)
    application_key = secrets.token_hex(32)
    _run_admin(config_file, database, admin_password, workdir)
    request = {
        "config_file": str(config_file),
        "database": database,
        "company_name": COMPANY_NAME,
        "currency": CURRENCY,
        "catalog": _catalog_payload(),
        "application_key": application_key,
    }
    # trytond reads TRYTOND_CONFIG on import and picks its backend from it, before
    # proteus gets to load a config file.
    result = _run_python(
        ["-m", "sandbox.tryton._setup_data"],
        stdin=json.dumps(request),
        extra_env={"TRYTOND_CONFIG": str(config_file)},
    )
    return {
        "database": database,
        "application_key": application_key,
        "admin_login": ADMIN_LOGIN,
        "admin_password": admin_password,
        "company_id": int(json.loads(result)["company_id"]),
        "currency": CURRENCY,
    }


def _run_admin(config_file: Path, database: str, password: str, workdir: Path) -> None:
    # Without a terminal trytond-admin reads the password from TRYTONPASSFILE
    # and needs --email, or it stops on input().
    handle, pass_file = tempfile.mkstemp(dir=workdir, prefix=".admin-pass.")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(password + "\n")
        command = ["-m", "trytond.cli.admin", "-c", str(config_file), "-d", database]
        modules = ["-u", *MODULES, "--activate-dependencies", "--email", ADMIN_EMAIL]
        _run_python([*command, *modules], extra_env={"TRYTONPASSFILE": pass_file})
    finally:
        os.unlink(pass_file)


def _run_python(
    args: list[str], *, stdin: str = "", extra_env: Mapping[str, str] | None = None
) -> str:
    # A TRYTOND_* variable from the caller's shell would silently change the setup.
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRYTOND_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
    env.update(extra_env or {})
    completed = subprocess.run(
        [sys.executable, *args], input=stdin, capture_output=True, text=True, env=env, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:2])} failed ({completed.returncode}):\n{completed.stderr[-4000:]}"
        )
    return completed.stdout


def _catalog_payload() -> list[dict[str, str]]:
    return [
        {"sku": item.sku, "name": item.name, "price": str(item.price)} for item in DEFAULT_CATALOG
    ]


def _cache_key() -> str:
    sources = [Path(__file__), Path(__file__).with_name("_setup_data.py")]
    return _cache.key(sources, json.dumps(_catalog_payload(), sort_keys=True))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="working directory")
    parser.add_argument("--database", default="syncline")
    parser.add_argument("--db-uri", help="postgresql://user@127.0.0.1:PORT/ (default: SQLite)")
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--no-cache", action="store_true", help="build from nothing")
    options = parser.parse_args(argv)
    setup = init_database(
        options.dir,
        database=options.database,
        db_uri=options.db_uri,
        cache_dir=options.cache_dir,
        use_cache=not options.no_cache,
    )
    print(json.dumps(setup.to_json(), indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
