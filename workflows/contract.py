"""How a workflow publishes what its callers may rely on: its type, signals and queries.

A contract module sits beside each workflow (``workflows/deal/contract.py``…). It names
the workflow type, builds the business-key id, declares each signal and query with its
one payload type, and holds the one start or signal-with-start path. Callers (the
ingress, the feed, reconciliation, the operator API, the CLI, tests) import the
contract, never the workflow class and never a name spelled as a string: the workflow
class declares its handlers with these same objects, so a rename is one edit and a
caller that sends the wrong payload type fails the type check.

Contract modules import only ``models`` and Temporal's client types, so activities may
use them without importing the workflows that call those activities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from models.deal import RetryRequest

PayloadT = TypeVar("PayloadT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class Signal(Generic[PayloadT]):
    """One signal a workflow accepts, with the one payload type it takes."""

    name: str
    payload: object
    """The payload's type (a model, or an annotated union of models)."""

    async def send(self, handle: WorkflowHandle[Any, Any], payload: PayloadT) -> None:
        await handle.signal(self.name, payload)

    async def send_if_running(self, handle: WorkflowHandle[Any, Any], payload: PayloadT) -> bool:
        """Signal the workflow's running run; False when none runs under that id (news
        for a process that has ended is the caller's to record or leave)."""
        try:
            await handle.signal(self.name, payload)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True


@dataclass(frozen=True)
class Query(Generic[ResultT]):
    """One query a workflow answers, with the type of its answer."""

    name: str
    result: type
    """The answer's model (``None`` decodes as ``None`` whatever it is)."""

    async def ask(self, handle: WorkflowHandle[Any, Any]) -> ResultT:
        answer: ResultT = await handle.query(self.name, result_type=self.result)
        return answer


RETRY: Signal[RetryRequest] = Signal("retry", RetryRequest)
"""Every workflow that parks for a person takes this: the operator fixed the data."""
