"""Where a CRM trigger goes: the one path from what the CRM said to the workflows it
concerns, whether it came as a webhook delivery or from the change stream.

A closed-won opportunity reaches its deal by signal-with-start (the deal's id is the
business key, so a trigger heard twice, once per path, is one deal); a change to a won
deal is signalled to its running deal; an edit of ERP-owned account fields goes to the
mirror of the ERP customer the account mirrors. A change Syncline itself made (its
writes carry ``Sforce-Call-Options: client=<name>``, which change data capture reports
in ``changeOrigin``) goes nowhere: it is Syncline's own write coming back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.client import Client

from models.changes import ChangeKind
from models.deal import CloseWonTrigger
from models.identity import ObjectType
from models.lifecycle import OpportunityChanged
from models.webhooks import WebhookTrigger
from store import Store
from workflows.deal import contract as deal
from workflows.mirror import contract as mirror


def written_by(origin: str | None, client_name: str) -> bool:
    """Whether change data capture's ``changeOrigin`` (``…/rest/59.0;client=syncline``)
    names this client: then the change is Syncline's own write coming back."""
    options = re.split(r"[;,]", origin or "")
    return any(option.strip() == f"client={client_name}" for option in options)


def records_named(trigger: WebhookTrigger) -> list[str]:
    """Every record the trigger concerns, first named first: the keys whose deliveries
    the inbox relay keeps in order."""
    accounts = [edit.account_id for edit in trigger.account_edits]
    named = [*trigger.opportunity_ids, *trigger.changed_opportunity_ids, *accounts]
    return list(dict.fromkeys(named))


def deal_workflow_ids(trigger: WebhookTrigger) -> list[str]:
    """The deals the trigger will be signalled to (a changed one only if it runs), known
    from the payload alone; a mirror's id needs the identity map, so the route finds it."""
    named = [*trigger.opportunity_ids, *trigger.changed_opportunity_ids]
    return [deal.deal_workflow_id(opportunity_id) for opportunity_id in dict.fromkeys(named)]


@dataclass(frozen=True)
class TriggerSource:
    """Which delivery (or change event) brought the trigger, for the workflows' records."""

    delivery_id: str
    correlation_id: str
    received_at: datetime


@dataclass
class Routed:
    workflow_ids: list[str] = field(default_factory=list)
    """The workflows signalled, in order."""
    ignored: list[str] = field(default_factory=list)
    """Why the rest were left alone."""
    subject_id: str | None = None
    """The first record the trigger named."""
    closed_won: int = 0
    """Deals signalled (started, or told again) that their opportunity was won."""


class CrmTriggerRouter:
    def __init__(
        self,
        client: Client,
        store: Store,
        *,
        task_queue: str,
        erp_system: str,
        crm_client_name: str,
    ) -> None:
        self._client = client
        self._store = store
        self._task_queue = task_queue
        self._erp_system = erp_system
        self._crm_client_name = crm_client_name

    def is_own_write(self, trigger: WebhookTrigger) -> bool:
        return written_by(trigger.origin, self._crm_client_name)

    def nothing_to_route(self, trigger: WebhookTrigger) -> str | None:
        """Why ``route`` would signal nothing, when the payload alone says so."""
        if trigger.shape == "cdc" and self.is_own_write(trigger):
            return "Syncline's own write"
        if not records_named(trigger):
            return "not a closed-won transition"
        return None

    async def route(self, trigger: WebhookTrigger, source: TriggerSource) -> Routed:
        """Signal every workflow the trigger concerns. Temporal's ``RPCError`` passes
        through (the caller answers 503, or retries)."""
        routed = Routed()
        nothing = self.nothing_to_route(trigger)
        if nothing is not None:
            routed.ignored.append(nothing)
            return routed
        for opportunity_id in trigger.opportunity_ids:
            routed.subject_id = routed.subject_id or opportunity_id
            handle = await deal.signal_close_won(
                self._client,
                self._task_queue,
                CloseWonTrigger(
                    crm_opportunity_id=opportunity_id,
                    delivery_id=source.delivery_id,
                    correlation_id=source.correlation_id,
                    received_at=source.received_at,
                ),
            )
            routed.workflow_ids.append(handle.id)
            routed.closed_won += 1
        for opportunity_id in trigger.changed_opportunity_ids:
            routed.subject_id = routed.subject_id or opportunity_id
            change = OpportunityChanged(
                crm_opportunity_id=opportunity_id,
                changed_fields=trigger.changed_fields,
                stage=trigger.stage,
                delivery_id=source.delivery_id,
                received_at=source.received_at,
            )
            handle = deal.deal_handle(self._client, opportunity_id)
            if await deal.OPPORTUNITY_CHANGED.send_if_running(handle, change):
                routed.workflow_ids.append(handle.id)
            else:
                routed.ignored.append(f"no deal of opportunity {opportunity_id} is running")
        for edit in trigger.account_edits:
            routed.subject_id = routed.subject_id or edit.account_id
            erp_ids = await self._store.erp_ids_for(ObjectType.CUSTOMER, [edit.account_id])
            if edit.account_id not in erp_ids:
                routed.ignored.append(f"account {edit.account_id} mirrors no ERP customer")
                continue
            erp_id = erp_ids[edit.account_id]
            run = mirror.mirror_handle(self._client, self._erp_system, ChangeKind.CUSTOMER, erp_id)
            if await mirror.CRM_EDITED.send_if_running(run, edit):
                routed.workflow_ids.append(run.id)
            else:
                routed.ignored.append(f"no mirror of ERP customer {erp_id} is running")
        return routed
