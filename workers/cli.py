"""``syncline``: the command line. The only module that prints."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from workers import operators_cli, reports_cli
from workers.settings import Settings

if TYPE_CHECKING:
    import uvicorn  # imported where a server starts: the CLI's other commands start faster

console = Console()


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
            for e in error.errors()
        )
        console.print(f"[red]configuration error[/red]: {problems}")
        console.print("Settings come from SYNCLINE_* variables (see README, Configuration).")
        raise SystemExit(2) from None


def _run(coroutine_factory: Callable[[], Coroutine[Any, Any, int]]) -> int:
    # uvloop (installed with uvicorn[standard]) cuts the event loop's share of a busy
    # worker's CPU; the plain loop is the fallback where it is unavailable.
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        code = runner.run(coroutine_factory())
    # A process that used a Temporal client can abort at interpreter exit (sdk-python
    # issue 300); leave without finalisation so the exit code is ours.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


# -- production processes -----------------------------------------------------------------


async def _worker() -> int:
    # Temporal's sandbox re-imports the workflow module for every workflow run. With
    # PYTHONDONTWRITEBYTECODE (common in containers) that means compiling its source
    # each time, a measured 8% of a busy worker's CPU; the bytecode is worth keeping.
    sys.dont_write_bytecode = False
    from workers.worker import run_worker

    await run_worker(_settings(), stop=_stop_event())
    return 0


async def _migrate() -> int:
    from store.migrate import current_revision
    from workers.wiring import build_store

    store = build_store(_settings())
    try:
        await store.migrate()
        async with store.engine.connect() as connection:
            revision = await connection.run_sync(current_revision)
    finally:
        await store.close()
    console.print(f"schema at revision {revision}")
    return 0


async def _api(host: str, port: int) -> int:
    from workers.api import create_app
    from workers.metrics_export import configure_metrics
    from workers.startup import connect_when_ready
    from workers.telemetry import configure_tracing, instrument_api
    from workers.wiring import build_store

    settings = _settings()
    provider = configure_tracing(settings, "api")
    configure_metrics(settings, "api")
    store = build_store(settings)
    client = await connect_when_ready(settings)
    app = create_app(settings, store=store, client=client)
    if provider is not None:
        instrument_api(app, provider)
    server = serving(app, host, port)
    try:
        await server.serve()
    finally:
        await store.close()
    return 0


async def _sandbox(kind: str, host: str, port: int, db: Path | None, upstream: str | None) -> int:
    from sandbox.launch import build_sandbox_app

    if kind == "fault-proxy":
        from sandbox.fault_proxy import build_app

        if upstream is None:
            raise SystemExit("sandbox fault-proxy needs --upstream URL")
        app = build_app(upstream)
    else:
        if db is None:
            raise SystemExit(f"sandbox {kind} needs --db PATH")
        app = build_sandbox_app(kind, host=host, port=port, db_path=db, env=dict(os.environ))
    await serving(app, host, port).serve()
    return 0


KEEP_ALIVE_SECONDS = 75
"""How long the API and the sandboxes keep an idle connection open: longer than their
clients' idle timeouts (httpx: 5 s, which is also uvicorn's default), so a server
never closes a kept-alive connection just as a client reuses it. With both at 5 s, a
benchmark's CRM write after a quiet spell met a connection the sandbox was closing."""


def serving(app: Any, host: str, port: int) -> uvicorn.Server:
    """The uvicorn server of the API or a sandbox."""
    import uvicorn

    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    )


# -- the local stack and the demo ------------------------------------------------------------


async def _dev(
    workdir: Path,
    erp: Literal["netsuite", "tryton"],
    crm_stream: Literal["pubsub", "off"],
    erp_approval: Literal["off", "all", "over_credit_limit"] = "off",
) -> int:
    from workers.dev_stack import DevStack, StackOptions

    stack = DevStack(
        StackOptions(workdir=workdir, erp=erp, crm_stream=crm_stream, erp_approval=erp_approval)
    )
    status = "starting Temporal, the sandboxes, the worker and the API…"
    if erp == "tryton":
        status = "setting up Tryton (about 30 s the first time), then " + status
    with console.status(status):
        env = await stack.start(timeout=120)
    table = Table(title="Syncline local stack", show_header=False)
    table.add_row("API (OpenAPI at /docs)", stack.api_url)
    table.add_row("Operator console", f"{stack.api_url}/console")
    table.add_row("Temporal Web UI", stack.ui_url)
    table.add_row("Temporal frontend", stack.temporal_address)
    table.add_row("Sandbox CRM (Salesforce-shaped)", stack.crm_url)
    table.add_row("Sandbox CRM's Pub/Sub API (gRPC, change events)", stack.crm_pubsub_address)
    if erp == "tryton":
        table.add_row("Tryton (through the fault proxy)", stack.erp_url)
        table.add_row("Tryton itself (admin login in tryton/tryton.json)", stack.tryton_url)
    else:
        table.add_row("Sandbox ERP (NetSuite-shaped)", stack.erp_url)
    table.add_row("Credentials", str(stack.workdir / "dev.env"))
    table.add_row("Logs", str(stack.workdir / "logs"))
    console.print(table)
    # The dev admin's personal key, for the console's sign-in (the CLI's commands read it
    # from dev.env). On a line of its own, never wrapped: it is meant to be copied.
    console.print("Admin key (dev-admin; SYNCLINE_OPERATOR_KEY in dev.env):")
    console.print(env["SYNCLINE_OPERATOR_KEY"], soft_wrap=True, highlight=False)
    console.print(
        "Try [bold]syncline demo --deals 20[/bold] in another terminal. Ctrl-C stops everything."
    )
    stop = _stop_event()
    try:
        while not stop.is_set():
            dead = stack.check_alive()
            if dead:
                console.print(f"[red]{dead} exited[/red]\n{stack.log_tail(dead)}")
                return 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        with console.status("stopping…"):
            stack.stop()
    return 0


async def _demo(
    deals: int,
    concurrency: int,
    env_file: Path,
    timeout: float,
    approval_share: float = 0.0,
    finance: bool = False,
    settle_wait: float = 60.0,
) -> int:
    from workers.demo import DemoConfig, run_demo

    if not 0 <= approval_share <= 1:
        raise SystemExit("--approval-share is a share of the deals: between 0 and 1")
    config = DemoConfig.from_env(
        env_file,
        deals=deals,
        concurrency=concurrency,
        timeout=timeout,
        approval_share=approval_share,
        finance=finance,
        settle_wait=settle_wait,
    )
    outcome = await run_demo(config, console)
    return 0 if outcome.all_accepted and outcome.finance_agrees else 1


async def _tryton_init(workdir: Path, database: str, db_uri: str | None) -> int:
    from sandbox.tryton.bootstrap import init_database

    with console.status("setting up Tryton (about 30 s the first time)…"):
        setup = await asyncio.to_thread(init_database, workdir, database=database, db_uri=db_uri)
    console.print(
        f"Tryton database [bold]{setup.database}[/bold] ready (company {setup.company_id}); "
        f"credentials in {workdir / 'tryton.json'}.\n"
        f"Run it with: trytond -c {setup.config_file} -d {setup.database}"
    )
    return 0


# -- operator commands ---------------------------------------------------------------------


async def _doctor(as_json: bool, timeout: float) -> int:
    """Exit 0 when everything a deal needs is in place (warnings do not count), 1 otherwise."""
    from workers.doctor import diagnose, exit_code, render_json, render_text

    results = await diagnose(timeout=timeout)
    if as_json:
        sys.stdout.write(render_json(results) + "\n")
    else:
        colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(render_text(results, colour=colour))
    return exit_code(results)


async def _exceptions(
    action: str,
    exception_id: str | None,
    env_file: Path,
    status: str | None = None,
    process: str | None = None,
) -> int:
    from workers.operator_client import OperatorClient

    client = OperatorClient.from_env(env_file)
    try:
        if action == "list":
            rows = await client.list_exceptions(status, process)
            table = Table(title=f"{len(rows)} exceptions")
            for column in ("id", "process", "subject", "reason", "step", "status", "message"):
                table.add_column(column)
            for row in rows:
                table.add_row(
                    row["id"],
                    row["process"],
                    row["subject_id"],
                    row["reason"],
                    row["step"],
                    row["status"],
                    row["message"],
                )
            console.print(table)
            return 0
        assert exception_id is not None
        answer = await client.retry_exception(exception_id)
        console.print(f"retry requested for {answer['exception_id']} ({answer['workflow_id']})")
        return 0
    finally:
        await client.aclose()


async def _reconcile(
    since: str | None,
    domains: list[str] | None,
    as_json: bool,
    csv_path: Path | None,
    repair: bool,
    env_file: Path,
    timeout: float,
) -> int:
    """Exit 0 when nothing unexplained remains, 1 otherwise (or when the run failed)."""
    import json
    import time

    from workers.operator_client import OperatorClient

    client = OperatorClient.from_env(env_file)
    try:
        started = await client.start_reconciliation(since=since, domains=domains, repair=repair)
        run_id = started["id"]
        deadline = time.monotonic() + timeout
        with console.status(f"reconciling ({run_id})…", spinner="dots"):
            report = await client.reconciliation(run_id)
            while report["status"] == "running":
                if time.monotonic() > deadline:
                    console.print(f"[red]{run_id} still running after {timeout:.0f} s[/red]")
                    return 1
                await asyncio.sleep(1.0)
                report = await client.reconciliation(run_id)
        if csv_path is not None:
            text = await client.findings_csv(run_id)
            await asyncio.to_thread(csv_path.write_text, text, encoding="utf-8")
        if as_json:
            sys.stdout.write(json.dumps(report, indent=2) + "\n")
        else:
            _print_report(report, await client.findings(run_id))
            if csv_path is not None:
                console.print(f"findings written to {csv_path}")
        return 0 if report["status"] == "completed" and report["unexplained"] == 0 else 1
    finally:
        await client.aclose()


def _print_report(report: dict[str, Any], findings: list[dict[str, Any]]) -> None:
    if report["status"] == "failed":
        console.print(f"[red]reconciliation {report['id']} failed[/red]: {report['failure']}")
        return
    classes = sorted({c for d in report["domains"] for c in d["by_class"]})
    table = Table(title=f"Reconciliation {report['id']} ({report['duration_seconds']:.1f} s)")
    for column in ("domain", "compared", *classes, "repaired", "open", "freshness"):
        table.add_column(column, justify="left" if column in ("domain", "freshness") else "right")
    for domain in report["domains"]:
        table.add_row(
            domain["domain"],
            str(domain["compared"]),
            *(str(domain["by_class"].get(c, 0)) for c in classes),
            str(domain["repaired"]),
            str(domain["open"]),
            (domain["freshness"] or "-")[:19],
        )
    console.print(table)
    money = Table(title="Money per metric (variance = ERP - ledger)")
    for column in ("metric", "currency", "crm", "erp", "ledger", "variance"):
        money.add_column(column, justify="left" if column in ("metric", "currency") else "right")
    for row in report["metrics"]:
        money.add_row(
            row["metric"],
            row["currency"],
            row["crm"] or "-",
            row["erp"],
            row["ledger"],
            row["variance"],
        )
    console.print(money)
    shown = [f for f in findings if f["drift"] != "in_flight"][:20]
    if shown:
        detail = Table(title="Differences (first 20; the CSV has all)")
        for column in ("domain", "key", "class", "state", "summary"):
            detail.add_column(column)
        for f in shown:
            detail.add_row(f["domain"], f["key"], f["drift"], f["state"], f["summary"])
        console.print(detail)
    verdict = (
        "[green]nothing unexplained[/green]"
        if report["unexplained"] == 0
        else f"[red]{report['unexplained']} unexplained[/red] (see `syncline exceptions list "
        "--process reconciliation`)"
    )
    console.print(verdict)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="syncline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run the whole local stack until Ctrl-C")
    dev.add_argument("--workdir", type=Path, default=Path(".syncline"))
    dev.add_argument(
        "--erp",
        choices=["netsuite", "tryton"],
        default="netsuite",
        help="the NetSuite-shaped sandbox, or a real Tryton set up in the workdir",
    )
    dev.add_argument(
        "--crm-stream",
        choices=["pubsub", "off"],
        default=os.environ.get("SYNCLINE_CRM_STREAM", "pubsub"),
        help="also read the CRM's change events over its Pub/Sub API (default pubsub, or "
        "SYNCLINE_CRM_STREAM); off: webhooks alone",
    )
    dev.add_argument(
        "--erp-approval",
        choices=["off", "all", "over_credit_limit"],
        default=os.environ.get("SYNCLINE_SANDBOX_ERP_APPROVAL", "off"),
        help="the NetSuite sandbox holds new sales orders for a finance user's approval: "
        "off (default, or SYNCLINE_SANDBOX_ERP_APPROVAL), all, or over_credit_limit",
    )

    demo = commands.add_parser(
        "demo", help="close deals won in the sandbox CRM and watch them become orders"
    )
    demo.add_argument("--deals", type=int, default=20)
    demo.add_argument("--concurrency", type=int, default=20)
    demo.add_argument("--timeout", type=float, default=300.0)
    demo.add_argument("--env-file", type=Path, default=Path(".syncline/dev.env"))
    demo.add_argument(
        "--approval-share",
        type=float,
        default=0.0,
        help="NetSuite sandbox only: this share (0..1) of the deals' customers get a credit "
        "limit their order passes, so the ERP holds it for approval; a finance step then "
        "approves the held orders and ships every order (default 0: as before)",
    )
    demo.add_argument(
        "--finance",
        action="store_true",
        help="NetSuite sandbox only: every fifth deal is a second deal of an earlier "
        "customer; finance ships and bills every accepted order, then pays in full, in "
        "part, two invoices with one payment, credits, refunds a credit or voids, and the "
        "demo checks the report's bookings, billings and collections against it (exit 1 "
        "when they still differ after --settle-wait)",
    )
    demo.add_argument(
        "--settle-wait",
        type=float,
        default=60.0,
        help="seconds the report may take to show what finance did (default 60)",
    )

    commands.add_parser("worker", help="run the Temporal worker (production)")
    commands.add_parser(
        "migrate", help="bring Syncline's database to the newest schema revision (Alembic)"
    )
    api = commands.add_parser("api", help="run the HTTP API (production)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)

    sandbox = commands.add_parser("sandbox", help="run one sandbox server")
    sandbox.add_argument("kind", choices=["salesforce", "netsuite", "fault-proxy"])
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, required=True)
    sandbox.add_argument("--db", type=Path, help="the sandbox's state (salesforce, netsuite)")
    sandbox.add_argument("--upstream", help="the server behind the fault proxy")

    erp = commands.add_parser("erp", help="set up an ERP for the local stack")
    erp_kinds = erp.add_subparsers(dest="erp_kind", required=True)
    tryton = erp_kinds.add_parser("tryton", help="Tryton")
    tryton_actions = tryton.add_subparsers(dest="erp_action", required=True)
    tryton_init = tryton_actions.add_parser(
        "init", help="create a Tryton database from nothing (modules, company, catalog, key)"
    )
    tryton_init.add_argument("--dir", type=Path, default=Path(".syncline/tryton"))
    tryton_init.add_argument("--database", default="syncline")
    tryton_init.add_argument("--db-uri", help="postgresql://user:password@host:port/")

    exceptions = commands.add_parser("exceptions", help="list parked runs, or retry one")
    exceptions.add_argument("action", choices=["list", "retry"], nargs="?", default="list")
    exceptions.add_argument("id", nargs="?")
    exceptions.add_argument("--env-file", type=Path, default=Path(".syncline/dev.env"))
    exceptions.add_argument("--status", choices=["open", "retry_requested", "resolved"])
    exceptions.add_argument(
        "--process",
        choices=[
            "deal",
            "customer_mirror",
            "item_mirror",
            "renewal",
            "feed",
            "crm_stream",
            "reconciliation",
            "inbox",
        ],
    )

    reconcile = commands.add_parser(
        "reconcile",
        help="compare CRM, ERP and ledger now, repair what can be replayed, print the report",
    )
    reconcile.add_argument("--since", help="only records from this date (YYYY-MM-DD)")
    reconcile.add_argument(
        "--domain",
        action="append",
        choices=["customers", "orders", "invoices", "payments", "subscriptions", "billing_mirror"],
        help="compare only this domain (repeatable); all by default",
    )
    reconcile.add_argument("--json", action="store_true", help="print the report as JSON")
    reconcile.add_argument("--csv", type=Path, help="write every difference to this CSV file")
    reconcile.add_argument(
        "--no-repair", action="store_true", help="report only; hand nothing to a workflow"
    )
    reconcile.add_argument("--timeout", type=float, default=3600.0)
    reconcile.add_argument("--env-file", type=Path, default=Path(".syncline/dev.env"))

    doctor = commands.add_parser(
        "doctor",
        help="check this configuration (environment, as `syncline worker` reads it) "
        "before the first deal",
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    # Real NetSuite takes seconds per metadata or SuiteQL call, and erp.queries makes
    # several one after the other; a system that hangs costs this once, not per check.
    doctor.add_argument(
        "--timeout", type=float, default=30.0, help="seconds each check may take (default 30)"
    )

    reports_cli.add_commands(commands)
    operators_cli.add_commands(commands)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request line at INFO; URLs are safe but noisy. Alembic announces
    # its plugins at every start-up; the migrations it runs are still logged.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.command in ("doctor", "operators") and not args.verbose:
        # The report is the output; the libraries' progress lines would only bury it.
        logging.getLogger().setLevel(logging.WARNING)

    if args.command == "dev":
        _run(lambda: _dev(args.workdir, args.erp, args.crm_stream, args.erp_approval))
    elif args.command == "demo":
        _run(
            lambda: _demo(
                args.deals,
                args.concurrency,
                args.env_file,
                args.timeout,
                args.approval_share,
                args.finance,
                args.settle_wait,
            )
        )
    elif args.command == "worker":
        _run(_worker)
    elif args.command == "migrate":
        _run(_migrate)
    elif args.command == "api":
        _run(lambda: _api(args.host, args.port))
    elif args.command == "sandbox":
        _run(lambda: _sandbox(args.kind, args.host, args.port, args.db, args.upstream))
    elif args.command == "erp":
        _run(lambda: _tryton_init(args.dir, args.database, args.db_uri))
    elif args.command == "exceptions":
        if args.action == "retry" and not args.id:
            parser.error("exceptions retry needs an exception id")
        _run(lambda: _exceptions(args.action, args.id, args.env_file, args.status, args.process))
    elif args.command == "doctor":
        _run(lambda: _doctor(args.json, args.timeout))
    elif args.command == "report":
        _run(lambda: reports_cli.report(args))
    elif args.command == "export":
        _run(lambda: reports_cli.export(args, _settings().database_url))
    elif args.command == "operators":
        _run(lambda: operators_cli.run(args, _settings().database_url))
    elif args.command == "reconcile":
        if args.since is not None:
            try:
                date.fromisoformat(args.since)
            except ValueError:
                parser.error(f"--since {args.since!r} is not a date (YYYY-MM-DD)")
        _run(
            lambda: _reconcile(
                args.since,
                args.domain,
                args.json,
                args.csv,
                not args.no_repair,
                args.env_file,
                args.timeout,
            )
        )


if __name__ == "__main__":
    main()
