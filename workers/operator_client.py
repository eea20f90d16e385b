"""The CLI's client for the operator API: the same routes an operator's script would use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from workers.dev_stack import load_env_file

OPERATOR_KEY = "SYNCLINE_OPERATOR_KEY"
"""The variable holding the caller's own credential: a personal key (``syncline operators
add``) or an identity provider token. ``syncline dev`` writes its admin's to dev.env."""


def env_with_file(env_file: Path) -> dict[str, str]:
    """Process environment over the values of ``dev.env`` (the environment wins)."""
    return {**load_env_file(env_file), **os.environ}


def operator_credential(env: dict[str, str]) -> str | None:
    """The caller's credential; the deprecated shared token when no key is set."""
    return env.get(OPERATOR_KEY) or env.get("SYNCLINE_API_TOKEN") or None


class OperatorClient:
    def __init__(self, api_url: str, token: str) -> None:
        self._http = httpx.AsyncClient(
            base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )

    @classmethod
    def from_env(cls, env_file: Path) -> OperatorClient:
        env = env_with_file(env_file)
        credential = operator_credential(env)
        if not credential:
            raise SystemExit(
                f"{OPERATOR_KEY} is not set: export your personal key (syncline operators "
                "add), or run `syncline dev`, which writes one to .syncline/dev.env"
            )
        return cls(env.get("SYNCLINE_API_URL", "http://127.0.0.1:8000"), credential)

    async def _json(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise SystemExit(
                f"{response.request.method} {response.request.url.path}: "
                f"{response.status_code} {response.text}"
            )
        return response.json()

    async def list_exceptions(
        self, status: str | None = None, process: str | None = None
    ) -> list[dict[str, Any]]:
        params = {
            name: value for name, value in (("status", status), ("process", process)) if value
        }
        result: list[dict[str, Any]] = await self._json(
            await self._http.get("/api/exceptions", params=params)
        )
        return result

    async def retry_exception(self, exception_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json(
            await self._http.post(f"/api/exceptions/{exception_id}/retry")
        )
        return result

    async def deal(self, opportunity_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json(
            await self._http.get(f"/api/deals/{opportunity_id}")
        )
        return result

    async def start_reconciliation(
        self, *, since: str | None, domains: list[str] | None, repair: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"since": since, "repair": repair}
        if domains:
            body["domains"] = domains
        result: dict[str, Any] = await self._json(
            await self._http.post("/api/reconciliations", json=body)
        )
        return result

    async def reconciliation(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json(
            await self._http.get(f"/api/reconciliations/{run_id}")
        )
        return result

    async def findings(self, run_id: str, limit: int = 50) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._json(
            await self._http.get(f"/api/reconciliations/{run_id}/findings", params={"limit": limit})
        )
        return result

    async def findings_csv(self, run_id: str) -> str:
        response = await self._http.get(f"/api/reconciliations/{run_id}/findings.csv")
        if response.status_code >= 400:
            await self._json(response)
        return response.text

    async def report(self, metric: str, params: dict[str, str]) -> dict[str, Any]:
        result: dict[str, Any] = await self._json(
            await self._http.get(f"/api/reports/{metric}", params=params)
        )
        return result

    async def aclose(self) -> None:
        await self._http.aclose()
