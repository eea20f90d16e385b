"""The one-command local stack: Temporal dev server, sandboxes, worker and API.

``syncline dev`` runs it on the documented ports; the end-to-end tests run the very
same stack on free ports in a temporary folder, so what the tests prove is what a user
starts.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, field, fields
from pathlib import Path
from typing import Literal

import httpx

from workers.binaries import temporal_cli
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

ENV_FILE = "dev.env"
DEV_ADMIN = "dev-admin"
"""The admin ``syncline dev`` makes a personal key for (``SYNCLINE_OPERATOR_KEY`` in
dev.env), so the demo, the CLI and the console have a way in and the stack never needs
the deprecated shared token."""
OPERATOR_KEY = "SYNCLINE_OPERATOR_KEY"
# What ``start`` gets from the sandbox ERP and writes to dev.env.
ERP_CREDENTIALS = (
    "SYNCLINE_ERP_PRIVATE_KEY_FILE",
    "SYNCLINE_ERP_CERTIFICATE_ID",
    "SYNCLINE_ERP_CONSUMER_KEY",
    "SYNCLINE_ERP_CONSUMER_SECRET",
    "SYNCLINE_ERP_TOKEN_ID",
    "SYNCLINE_ERP_TOKEN_SECRET",
)


@dataclass(frozen=True)
class StackPorts:
    temporal: int = 7233
    temporal_ui: int = 8233
    api: int = 8000
    crm: int = 8010
    erp: int = 8020
    tryton: int = 8021  # behind the fault proxy on ``erp`` when the ERP is Tryton
    worker_metrics: int = 9464
    crm_pubsub: int = 8011
    """The sandbox CRM's Pub/Sub API (gRPC)."""

    @classmethod
    def free(cls) -> StackPorts:
        return cls(*(_free_port() for _ in fields(cls)))


# Below Linux's ephemeral range (32768-60999): a port the kernel hands out with bind(0)
# is also one it may give any outgoing connection before the server binds it.
_LISTEN_PORTS = range(20000, 32768)


def _free_port() -> int:
    """A port nobody listens on now, picked at random outside the ephemeral range."""
    for _ in range(100):
        port = random.choice(_LISTEN_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32767")


@dataclass
class StackOptions:
    workdir: Path
    ports: StackPorts = field(default_factory=StackPorts)
    erp_concurrency_limit: int = 5
    erp_latency_ms: int = 0
    erp_approval: Literal["off", "all", "over_credit_limit"] = "off"
    """The NetSuite sandbox's approval mode (``sandbox.netsuite.approval``)."""
    database_url: str | None = None
    ui: bool = True
    erp: Literal["netsuite", "tryton"] = "netsuite"
    erp_auth: Literal["oauth2_jwt", "tba"] = "oauth2_jwt"
    """How the worker logs in to the NetSuite sandbox (both are set up in any case)."""
    tryton_db_uri: str | None = None
    """Tryton's own database: None for SQLite in the workdir, or a PostgreSQL URI."""
    tryton_cache_dir: Path | None = None
    erp_poll_seconds: float = 2.0
    reconcile_sla_minutes: float = 15.0
    """How old a difference must be before reconciliation calls it an error."""
    api_rate_limit: str = "50/second"
    """Operator requests per client address (tests that fuzz the API raise it)."""
    webhook_rate_limit: str = "200/second"
    """Deliveries per sender (the ingress benchmark, one sender at full tilt, raises it)."""
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    """Where the processes' spans go (the tests print them to the logs, to grep them)."""
    metrics: bool = True
    metrics_refresh_seconds: float = 15.0
    """How often the API reads the store's gauges (tests that check them lower it)."""
    crm_change_events: tuple[str, ...] = ("Account",)
    """Objects the sandbox CRM reports by change data capture (the account mirror's
    ownership conflicts); opportunities reach Syncline by Flow callouts."""
    crm_stream: Literal["pubsub", "off"] = "pubsub"
    """``SYNCLINE_CRM_STREAM``: the worker also reads the sandbox CRM's change events over
    its Pub/Sub API (the webhooks go on either way)."""
    crm_stream_window_seconds: float = 60.0
    """How long one run of a stream reads before it records its position."""
    crm_stream_batch_size: int = 100
    """Change events a stream asks for at a time."""
    crm_callout_retry_delays: tuple[float, ...] | None = None
    """Seconds between the sandbox CRM's callout attempts; () makes one attempt, as
    Salesforce does (it retries no callout); None keeps the sandbox's default."""
    pubsub_keepalive_seconds: float = 30.0
    """The sandbox's keep-alive on an idle subscription (Salesforce: up to 270 s)."""
    workers: int = 1
    """Worker processes: the first is ``worker``, the others ``worker-2``, ``worker-3``…,
    each with a metrics listener of its own. Several workers share the ERP limit only
    through a shared governor (``SYNCLINE_ERP_GOVERNOR=postgres``, PostgreSQL)."""
    erp_governor: Literal["auto", "local", "postgres"] = "auto"
    """``SYNCLINE_ERP_GOVERNOR`` for every process."""
    extra_env: dict[str, str] = field(default_factory=dict)
    """More settings for every process (the console tests' identity provider)."""

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("a stack needs at least one worker")


def load_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    return values


class DevStack:
    """Starts every process of the local stack, waits until healthy, stops them all."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.workdir = options.workdir.resolve()
        self.ports = options.ports
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        # Settings one process has apart from the stack's (an extra worker's metrics
        # port), kept so that a restart starts it as it was.
        self._own_env: dict[str, dict[str, str]] = {}
        self._extra_worker_metrics: list[int] = []
        while len(self._extra_worker_metrics) < options.workers - 1:
            port = _free_port()
            if port not in (*astuple(self.ports), *self._extra_worker_metrics):
                self._extra_worker_metrics.append(port)

    # -- configuration -----------------------------------------------------------------

    @property
    def worker_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.worker_metrics}/metrics"

    def worker_metrics_url_of(self, name: str) -> str:
        """The ``/metrics`` of one worker process, by its name in ``worker_names``."""
        return f"http://127.0.0.1:{self._worker_metrics_ports()[name]}/metrics"

    def _worker_metrics_ports(self) -> dict[str, int]:
        ports = [self.ports.worker_metrics, *self._extra_worker_metrics]
        return dict(zip(self.worker_names, ports, strict=True))

    @property
    def worker_names(self) -> list[str]:
        """``worker`` (the one ``worker_metrics_url`` serves), then ``worker-2``…"""
        return ["worker"] + [f"worker-{n}" for n in range(2, self.options.workers + 1)]

    def process_names(self) -> list[str]:
        """The stack's processes by name (``temporal``, ``api``, ``worker``…), started
        first to last."""
        return list(self._processes)

    def pid(self, name: str) -> int:
        """The process id of one of the stack's processes (a worker's Temporal identity
        is ``<pid>@<host>``)."""
        return self._processes[name].pid

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def crm_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.crm}"

    @property
    def crm_pubsub_address(self) -> str:
        return f"127.0.0.1:{self.ports.crm_pubsub}"

    @property
    def erp_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.erp}"

    @property
    def tryton_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.tryton}"

    @property
    def tryton_dir(self) -> Path:
        return self.workdir / "tryton"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.ports.temporal}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.temporal_ui}"

    def environment(self) -> dict[str, str]:
        """Settings for every Syncline process of the stack; also written to dev.env.

        Secrets are made once per workdir and kept, so a restarted stack still matches
        the sandboxes' stored state.
        """
        env_path = self.workdir / ENV_FILE
        previous = load_env_file(env_path)

        def secret(name: str) -> str:
            return previous.get(name) or secrets.token_urlsafe(24)

        database_url = (
            self.options.database_url or f"sqlite+aiosqlite:///{self.workdir / 'syncline.db'}"
        )
        erp = (
            self._tryton_environment()
            if self.options.erp == "tryton"
            else self._netsuite_environment(previous)
        )
        # The admin key of the last run, until ``start`` has checked it is still live.
        key = {OPERATOR_KEY: previous[OPERATOR_KEY]} if OPERATOR_KEY in previous else {}
        common = self._common_environment(database_url, secret)
        return {**common, **erp, **self.options.extra_env, **key}

    def _common_environment(
        self, database_url: str, secret: Callable[[str], str]
    ) -> dict[str, str]:
        return {
            "SYNCLINE_ENVIRONMENT": "dev",
            "SYNCLINE_DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPORAL_NAMESPACE": "default",
            "SYNCLINE_TEMPORAL_UI_URL": self.ui_url,
            "SYNCLINE_API_URL": self.api_url,
            "SYNCLINE_WEBHOOK_SECRET": secret("SYNCLINE_WEBHOOK_SECRET"),
            "SYNCLINE_CRM_BASE_URL": self.crm_url,
            "SYNCLINE_CRM_CLIENT_ID": "syncline-dev-crm",
            "SYNCLINE_CRM_CLIENT_SECRET": secret("SYNCLINE_CRM_CLIENT_SECRET"),
            "SYNCLINE_ERP_BASE_URL": self.erp_url,
            "SYNCLINE_ERP_CLIENT_ID": "syncline-dev-erp",
            "SYNCLINE_ERP_MAX_CONCURRENCY": str(self.options.erp_concurrency_limit),
            "SYNCLINE_SANDBOX_ERP_CONCURRENCY_LIMIT": str(self.options.erp_concurrency_limit),
            "SYNCLINE_SANDBOX_ERP_LATENCY_MS": str(self.options.erp_latency_ms),
            "SYNCLINE_SANDBOX_ERP_APPROVAL": self.options.erp_approval,
            "SYNCLINE_ERP_POLL_SECONDS": str(self.options.erp_poll_seconds),
            "SYNCLINE_SANDBOX_CDC": ",".join(self.options.crm_change_events),
            "SYNCLINE_RECONCILE_SLA_MINUTES": str(self.options.reconcile_sla_minutes),
            "SYNCLINE_API_RATE_LIMIT": self.options.api_rate_limit,
            # One limit for the stack's operator API, per address and per operator: the
            # tests sign in as one admin from one address.
            "SYNCLINE_API_OPERATOR_RATE_LIMIT": self.options.api_rate_limit,
            "SYNCLINE_WEBHOOK_RATE_LIMIT": self.options.webhook_rate_limit,
            "SYNCLINE_OTEL_EXPORTER": self.options.otel_exporter,
            "SYNCLINE_METRICS": "true" if self.options.metrics else "false",
            "SYNCLINE_WORKER_METRICS_PORT": str(self.ports.worker_metrics),
            "SYNCLINE_METRICS_REFRESH_SECONDS": str(self.options.metrics_refresh_seconds),
            "SYNCLINE_ERP_GOVERNOR": self.options.erp_governor,
            # The sandbox CRM's Pub/Sub API, and the worker's stream reading it.
            "SYNCLINE_SANDBOX_PUBSUB_PORT": str(self.ports.crm_pubsub),
            "SYNCLINE_SANDBOX_PUBSUB_KEEPALIVE_SECONDS": str(self.options.pubsub_keepalive_seconds),
            "SYNCLINE_CRM_STREAM": self.options.crm_stream,
            "SYNCLINE_CRM_PUBSUB_ADDRESS": f"127.0.0.1:{self.ports.crm_pubsub}",
            "SYNCLINE_CRM_PUBSUB_TLS": "false",
            "SYNCLINE_CRM_STREAM_WINDOW_SECONDS": str(self.options.crm_stream_window_seconds),
            "SYNCLINE_CRM_STREAM_BATCH_SIZE": str(self.options.crm_stream_batch_size),
            **self._callout_retries(),
        }

    def _callout_retries(self) -> dict[str, str]:
        delays = self.options.crm_callout_retry_delays
        if delays is None:
            return {}
        return {"SYNCLINE_SANDBOX_CALLOUT_RETRY_DELAYS": ",".join(str(d) for d in delays)}

    def _netsuite_environment(self, previous: dict[str, str]) -> dict[str, str]:
        """The sandbox account's id; the credentials ``start`` registers with the sandbox
        (a certificate mapping, a TBA token), as on a real account. Until it has, those
        of the last run."""
        from sandbox.netsuite.config import DEFAULT_ACCOUNT_ID

        return {
            "SYNCLINE_ERP_AUTH": self.options.erp_auth,
            "SYNCLINE_ERP_ACCOUNT_ID": DEFAULT_ACCOUNT_ID,
            **{name: previous[name] for name in ERP_CREDENTIALS if name in previous},
        }

    async def ensure_admin_key(self, env: dict[str, str]) -> None:
        """The dev admin's key: the last run's while it is live, else a new one (made as
        ``syncline operators add`` makes keys, audited under the local user)."""
        from models.operators import Role
        from store import Store
        from store.operator_keys import OperatorKeys
        from workers.access import keys
        from workers.access.operators import add_operator, local_operator, revoke_operator

        store = Store.from_url(env["SYNCLINE_DATABASE_URL"])
        try:
            await store.migrate()
            previous = env.get(OPERATOR_KEY, "")
            key_id = keys.key_id_of(previous)
            row = await OperatorKeys(store).get(key_id) if key_id else None
            if row and row.revoked_at is None and keys.matches(previous, row.secret_sha256):
                return
            me = local_operator()
            if await OperatorKeys(store).active(DEV_ADMIN):
                await revoke_operator(store, DEV_ADMIN, me)  # its key in dev.env was lost
            env[OPERATOR_KEY] = (await add_operator(store, DEV_ADMIN, Role.ADMIN, me)).key
        finally:
            await store.close()
        self.write_env_file(env)

    async def _provision_erp(self, env: dict[str, str]) -> None:
        from sandbox.netsuite.provision import provision_dev_credentials

        env.update(
            await provision_dev_credentials(
                self.erp_url, self.workdir, env["SYNCLINE_ERP_CLIENT_ID"], env
            )
        )
        self.write_env_file(env)

    def _tryton_environment(self) -> dict[str, str]:
        """The worker talks to Tryton through the fault proxy on the ERP port."""
        from sandbox.tryton.bootstrap import TrytonSetup

        setup = TrytonSetup.load(self.tryton_dir)
        return {
            # trytond's own server is one process: past 2 calls at a time requests only
            # queue inside it (benchmarks/README.md, tryton).
            "SYNCLINE_ERP_MAX_CONCURRENCY": str(min(self.options.erp_concurrency_limit, 2)),
            "SYNCLINE_ERP_KIND": "tryton",
            "SYNCLINE_ERP_DATABASE": setup.database,
            "SYNCLINE_ERP_CLIENT_SECRET": setup.application_key,
            "SYNCLINE_ERP_COMPANY": str(setup.company_id),
        }

    def write_env_file(self, env: dict[str, str]) -> Path:
        path = self.workdir / ENV_FILE
        lines = ["# Written by `syncline dev`: source it to talk to the local stack."]
        lines += [f"{key}={value}" for key, value in env.items()]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path

    # -- processes -----------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_file = (logs / f"{name}.log").open("ab")
        self._processes[name] = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us once; we stop the children in order
        )
        log_file.close()

    def _syncline(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "workers.cli", *args]

    def _temporal_argv(self) -> list[str]:
        argv = [
            str(temporal_cli()),
            "server",
            "start-dev",
            "--db-filename",
            str(self.workdir / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.ports.temporal),
            "--namespace",
            "default",
            "--log-level",
            "warn",
            # WAL with synchronous=normal more than doubles the dev server's throughput;
            # it can lose the last commits on an OS crash (not a process crash).
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ]
        argv += ["--ui-port", str(self.ports.temporal_ui)] if self.options.ui else ["--headless"]
        for key in SEARCH_ATTRIBUTES:
            argv += ["--search-attribute", f"{key.name}=Keyword"]
        return argv

    async def start(self, timeout: float = 60.0) -> dict[str, str]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.options.erp == "tryton":
            await self._init_tryton()
        env = self.environment()
        self.write_env_file(env)
        try:
            self._spawn("temporal", self._temporal_argv(), env)
            self._spawn(
                "sandbox-crm",
                self._syncline(
                    "sandbox",
                    "salesforce",
                    "--port",
                    str(self.ports.crm),
                    "--db",
                    str(self.workdir / "sandbox-crm.db"),
                ),
                env,
            )
            self._spawn_erp(env)
            deadline = time.monotonic() + timeout
            await self._wait_port("temporal", self.ports.temporal, deadline)
            await self._wait_http("sandbox-crm", f"{self.crm_url}/admin/health", deadline)
            if self.options.erp == "tryton":
                await self._wait_http("tryton", f"{self.tryton_url}/", deadline, any_answer=True)
            await self._wait_http("sandbox-erp", f"{self.erp_url}/admin/health", deadline)
            if self.options.erp == "netsuite":
                await self._provision_erp(env)
            await self.ensure_admin_key(env)
            self._spawn_workers(env)
            self._spawn("api", self._syncline("api", "--port", str(self.ports.api)), env)
            await self._wait_http("api", f"{self.api_url}/healthz", deadline)
        except BaseException:
            self.stop()
            raise
        return env

    def _spawn_workers(self, env: dict[str, str]) -> None:
        """Every worker process; the extra ones each on a metrics port of their own, or
        the second would fail to bind the first one's and exit."""
        for name, port in self._worker_metrics_ports().items():
            if name != "worker":
                self._own_env[name] = {"SYNCLINE_WORKER_METRICS_PORT": str(port)}
            self._spawn(name, self._syncline("worker"), {**env, **self._own_env.get(name, {})})

    async def _init_tryton(self) -> None:
        """A Tryton database for this workdir: a copy of the cached one after the first
        build (about half a minute), kept across restarts of the stack."""
        from sandbox.tryton.bootstrap import init_database

        await asyncio.to_thread(
            init_database,
            self.tryton_dir,
            db_uri=self.options.tryton_db_uri,
            cache_dir=self.options.tryton_cache_dir,
        )

    def _spawn_erp(self, env: dict[str, str]) -> None:
        if self.options.erp == "netsuite":
            self._spawn(
                "sandbox-erp",
                self._syncline(
                    "sandbox",
                    "netsuite",
                    "--port",
                    str(self.ports.erp),
                    "--db",
                    str(self.workdir / "sandbox-erp.db"),
                ),
                env,
            )
            return
        from sandbox.tryton.bootstrap import TrytonSetup, trytond_argv

        setup = TrytonSetup.load(self.tryton_dir)
        self._spawn("tryton", trytond_argv(setup, "127.0.0.1", self.ports.tryton), env)
        self._spawn(
            "sandbox-erp",
            self._syncline(
                "sandbox",
                "fault-proxy",
                "--port",
                str(self.ports.erp),
                "--upstream",
                self.tryton_url,
            ),
            env,
        )

    def check_alive(self) -> str | None:
        """The name of a process that exited, if any."""
        for name, process in self._processes.items():
            if process.poll() is not None:
                return name
        return None

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / "logs" / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    async def _wait_port(self, name: str, port: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._fail_if_dead(name)
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            return
        raise TimeoutError(f"{name} did not open port {port}\n{self.log_tail(name)}")

    async def _wait_http(
        self, name: str, url: str, deadline: float, *, any_answer: bool = False
    ) -> None:
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                self._fail_if_dead(name)
                try:
                    status = (await http.get(url)).status_code
                    if status == 200 or (any_answer and status < 500):
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{name} not healthy at {url}\n{self.log_tail(name)}")

    def _fail_if_dead(self, name: str) -> None:
        process = self._processes.get(name)
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}\n{self.log_tail(name)}")

    def restart(self, name: str) -> None:
        """Kill one process hard and start it again (for fault tests)."""
        self.kill(name)
        self.respawn(name)

    def kill(self, name: str) -> None:
        """Kill one process hard (SIGKILL: no shutdown, no cleanup); ``respawn`` starts
        it again as it was."""
        process = self._processes[name]
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def respawn(self, name: str) -> None:
        argv = self._processes[name].args
        assert isinstance(argv, list)
        self._spawn(
            name, [str(a) for a in argv], {**self.environment(), **self._own_env.get(name, {})}
        )

    def stop(self) -> None:
        # API and worker first so nothing new starts, Temporal last.
        order = ["api", *self.worker_names, "sandbox-crm", "sandbox-erp", "tryton", "temporal"]
        for name in order:
            process = self._processes.get(name)
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name in order:
            process = self._processes.pop(name, None)
            if process is None:
                continue
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
