"""``syncline report`` and ``syncline export``: reports through the operator API, and
the ledger's export to Parquet for a warehouse. Part of the CLI, so it prints."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from reporting.definitions import GroupKey

console = Console()

_ROW_KEYS = ("currency", *(k.value for k in GroupKey if k != GroupKey.CURRENCY))


def add_commands(commands: Any) -> None:
    """The two subcommands on ``syncline``'s subparsers."""
    report = commands.add_parser(
        "report", help="a revenue metric from the event ledger (bookings, arr, …)"
    )
    report.add_argument("metric", help="pipeline, bookings, billings, collections, renewals, arr")
    report.add_argument("--from", dest="start", required=True, type=date.fromisoformat)
    report.add_argument("--to", dest="end", required=True, type=date.fromisoformat)
    report.add_argument("--group-by", help="comma-separated: month, customer, sku, revenue_type")
    report.add_argument("--version", type=int, help="the definition version (default: newest)")
    report.add_argument("--csv", help="write the rows as CSV to this file ('-': stdout)")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--env-file", type=Path, default=Path(".syncline/dev.env"))

    export = commands.add_parser(
        "export", help="write the ledger's new events to Parquet for a data warehouse"
    )
    export.add_argument("--to", dest="directory", required=True, type=Path)
    export.add_argument(
        "--overlap-minutes",
        type=float,
        default=60.0,
        help="re-read this much of the newest stamps for late events (default 60)",
    )


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*columns, "amount", "count"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _print(report: dict[str, Any], columns: list[str]) -> None:
    title = (
        f"{report['metric']} v{report['definition_version']}, "
        f"{report['start']} to {report['end']} (UTC, inclusive)"
    )
    table = Table(title=title, caption=report["definition"])
    for column in [*columns, "amount", "count"]:
        table.add_column(column, justify="right" if column in ("amount", "count") else "left")
    for row in report["rows"]:
        table.add_row(*(str(row.get(c) or "") for c in [*columns, "amount", "count"]))
    console.print(table)
    for total in report["totals"]:
        console.print(f"total {total['currency']}: {total['amount']}")
    for left_out in report["unclassified"]:
        console.print(
            f"[yellow]unclassified, not counted, {left_out['currency']}: "
            f"{left_out['amount']}[/yellow]"
        )


async def report(args: argparse.Namespace) -> int:
    from workers.operator_client import OperatorClient

    params = {"from": args.start.isoformat(), "to": args.end.isoformat()}
    if args.group_by:
        params["group_by"] = args.group_by
    if args.version is not None:
        params["version"] = str(args.version)
    client = OperatorClient.from_env(args.env_file)
    try:
        answer = await client.report(args.metric, params)
    finally:
        await client.aclose()
    columns = [key for key in _ROW_KEYS if key == "currency" or key in answer["group_by"]]
    if args.csv == "-":
        sys.stdout.write(_csv(answer["rows"], columns))
    elif args.csv:
        text = _csv(answer["rows"], columns)
        await asyncio.to_thread(Path(args.csv).write_text, text, encoding="utf-8")
    if args.json:
        sys.stdout.write(json.dumps(answer, indent=2) + "\n")
    elif args.csv != "-":
        _print(answer, columns)
    return 0


async def export(args: argparse.Namespace, database_url: str) -> int:
    from models.operators import AuditAction, AuditOutcome
    from reporting.export import ExportGap, LedgerExport
    from store import Store
    from workers.access.operators import local_operator, record_local

    store = Store.from_url(database_url)
    target = str(args.directory.resolve())
    try:
        await store.migrate()  # the audit trail below may be newer than the database
        run = LedgerExport(store, args.directory, timedelta(minutes=args.overlap_minutes))
        try:
            result = await run.run()
        except ExportGap as gap:
            await record_local(
                store,
                local_operator(),
                AuditAction.EXPORT_LEDGER,
                target,
                outcome=AuditOutcome.FAILED,
                reason=str(gap),
            )
            console.print(f"[red]export stopped[/red]: {gap}")
            return 1
        await record_local(
            store,
            local_operator(),
            AuditAction.EXPORT_LEDGER,
            target,
            detail={"events": result.events, "file": str(result.file) if result.file else None},
        )
    finally:
        await store.close()
    if result.file is None:
        console.print(f"nothing new since {result.watermark}")
    else:
        console.print(f"{result.events} events written to {result.file}")
    return 0
