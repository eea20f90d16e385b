"""Builds a sandbox app from the stack's environment (the ``SYNCLINE_*`` of dev.env)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI

CALLOUT_RETRIES_ENV_VAR = "SYNCLINE_SANDBOX_CALLOUT_RETRY_DELAYS"


def _callout_retries(env: Mapping[str, str]) -> dict[str, tuple[float, ...]]:
    """``SYNCLINE_SANDBOX_CALLOUT_RETRY_DELAYS``: seconds between a callout's attempts
    (``0.5,1,2``; empty: one attempt, as a platform callout without a fault path makes);
    unset keeps the sandbox's default."""
    if CALLOUT_RETRIES_ENV_VAR not in env:
        return {}
    raw = env[CALLOUT_RETRIES_ENV_VAR]
    return {"webhook_retry_delays": tuple(float(x) for x in raw.split(",") if x.strip())}


def build_sandbox_app(
    kind: str, *, host: str, port: int, db_path: Path, env: Mapping[str, str]
) -> FastAPI:
    base_url = f"http://{host}:{port}"
    if kind == "salesforce":
        from sandbox.salesforce.cdc import entities_from_env
        from sandbox.salesforce.server import (
            SalesforceSandboxConfig,
            build_app,
            pubsub_settings_from_env,
        )

        api_url = env.get("SYNCLINE_API_URL")
        return build_app(
            SalesforceSandboxConfig(
                db_path=db_path,
                client_id=env["SYNCLINE_CRM_CLIENT_ID"],
                client_secret=env["SYNCLINE_CRM_CLIENT_SECRET"],
                webhook_url=f"{api_url}/webhooks/salesforce" if api_url else None,
                webhook_secret=env.get("SYNCLINE_WEBHOOK_SECRET"),
                base_url=base_url,
                cdc_entities=entities_from_env(env),
                **pubsub_settings_from_env(env),
                **_callout_retries(env),
            )
        )
    if kind == "netsuite":
        from sandbox.netsuite.approval import ApprovalMode
        from sandbox.netsuite.config import DEFAULT_ACCOUNT_ID
        from sandbox.netsuite.server import NetSuiteSandboxConfig
        from sandbox.netsuite.server import build_app as build_netsuite

        return build_netsuite(
            NetSuiteSandboxConfig(
                db_path=db_path,
                account_id=env.get("SYNCLINE_ERP_ACCOUNT_ID") or DEFAULT_ACCOUNT_ID,
                concurrency_limit=int(env.get("SYNCLINE_SANDBOX_ERP_CONCURRENCY_LIMIT", "5")),
                latency_ms=int(env.get("SYNCLINE_SANDBOX_ERP_LATENCY_MS", "0")),
                approval_mode=ApprovalMode(env["SYNCLINE_SANDBOX_ERP_APPROVAL"])
                if env.get("SYNCLINE_SANDBOX_ERP_APPROVAL")
                else None,
            )
        )
    raise ValueError(f"unknown sandbox {kind!r}")
