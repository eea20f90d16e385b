"""Runs as Temporal's visibility lists them, for reconciliation's sweeps of the deals."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from temporalio.client import Client, WorkflowExecution
from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger(__name__)


async def listed(client: Client, query: str, unswept: str) -> AsyncIterator[WorkflowExecution]:
    """The runs ``query`` lists. A server that cannot list any logs ``unswept`` (what is
    therefore left undone) and yields nothing: only Temporal's time-skipping test server
    does; every real one (dev server, self-hosted, Cloud) has visibility."""
    try:
        async for execution in client.list_workflows(query):
            yield execution
    except RPCError as error:
        if error.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        log.warning("this Temporal server cannot list workflows: %s", unswept)
