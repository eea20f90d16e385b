"""``python -m sandbox.salesforce``: serve the sandbox CRM with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import uvicorn

from sandbox.salesforce.cdc import CDC_ENV_VAR, canonical_entities, entities_from_env
from sandbox.salesforce.server import (
    SalesforceSandboxConfig,
    build_app,
    pubsub_settings_from_env,
)


def _cdc_entities(flags: list[str] | None) -> tuple[str, ...]:
    """``--cdc Account --cdc Opportunity`` or ``--cdc Account,Opportunity``; no flag
    falls back to the environment variable."""
    if not flags:
        return entities_from_env()
    return canonical_entities(n for flag in flags for n in flag.split(",") if n.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description="Salesforce-compatible sandbox CRM")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument("--db", type=Path, default=Path(".syncline/salesforce.db"))
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret")
    parser.add_argument(
        "--cdc",
        action="append",
        metavar="ENTITY",
        help="relay Change Data Capture events for ENTITY (e.g. Account) to the webhook URL;"
        f" repeatable or comma-separated; default from {CDC_ENV_VAR}, else off",
    )
    args = parser.parse_args()
    try:
        cdc = _cdc_entities(args.cdc)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO)
    config = SalesforceSandboxConfig(
        db_path=args.db,
        client_id=args.client_id,
        client_secret=args.client_secret,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        base_url=f"http://{args.host}:{args.port}",
        cdc_entities=cdc,
        **pubsub_settings_from_env(os.environ),
    )
    uvicorn.run(build_app(config), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
