"""ErpMirror: one long-running run per ERP customer or catalog item, keeping the CRM's
read-only mirror of it equal to the ERP (the owner, DESIGN promise 1).

The change feed signals every new ERP snapshot (signal-with-start on
``erp-mirror:<erp>:<kind>:<id>``); the run writes the newest one to the CRM and ignores
older ones. For customers it also hears the CRM: change data capture of an account's
ERP-owned fields arrives as ``crm_edited``. An edit equal to what Syncline last wrote
is its own write coming back (an echo) and is ignored; any other edit is an ownership
conflict: never propagated to the ERP, recorded as an exception, and resolved by
writing the ERP's values back (on retry, or when the ERP sends newer ones).

Two ERP customers that match one CRM account park the run: Syncline does not guess
which is the real customer. So does every CRM call that cannot pass by retrying (a
refusal, a refused credential, an error no connector explains): the run never fails,
it waits for a retry or a newer snapshot. What it heard and had not yet applied when
it continues as new goes with it.

Its CRM writes are local activities (``calls.crm_local``): writing the ERP's values onto
an account or product again changes nothing, so a write repeated by a failed workflow
task is harmless, and a new customer's mirror costs one workflow task instead of two
(every deal for a new customer starts one, issue 22).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.calls as calls
    import workflows.mirror.contract as contract
    import workflows.search_attributes as sa
    from activities.crm import CrmActivities
    from models.changes import CustomerChange, ItemChange
    from models.deal import ExceptionReason, RetryRequest
    from models.lifecycle import (
        AccountEdit,
        MirrorChange,
        MirrorInput,
        MirrorState,
        MirrorStatus,
        owned_values,
    )
    from models.messages import MirrorCustomerInput, MirrorItemInput
    from workflows.parking import Parking, needs_a_person

T = TypeVar("T")
HEARD_EDITS = 200
"""Transaction keys remembered: a second path delivers within seconds, not hundreds."""


def _blank(value: str | None) -> str:
    return (value or "").strip()


class _Refused(Exception):
    def __init__(self, reason: ExceptionReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


async def _refusals(call: Awaitable[T]) -> T:
    """What needs a person (a CRM refusal, a refused credential, an error no connector
    explains) parks the run instead of failing it. The writes are local activities, whose
    refusal arrives as the ``ApplicationError`` itself (``parking.needs_a_person``)."""
    try:
        return await call
    except (ActivityError, ApplicationError) as error:
        problem = needs_a_person(error, ExceptionReason.CRM_REJECTED)
        if problem is None:
            raise
        raise _Refused(*problem) from None


@workflow.defn(name=contract.WORKFLOW_TYPE)
class ErpMirror:
    @workflow.init
    def __init__(self, request: MirrorInput) -> None:
        self._state = MirrorState(
            erp_system=request.erp_system,
            kind=request.kind,
            erp_id=request.erp_id,
            status=request.status,
            latest=request.latest,
            written=request.written,
            account_ids=list(request.account_ids),
        )
        self._pending: list[MirrorChange] = list(request.pending)
        self._edits: list[AccountEdit] = list(request.edits)
        self._heard = deque(request.heard_edits, maxlen=HEARD_EDITS)
        self._parking = Parking(
            f"{request.erp_system}:{request.kind}:{request.erp_id}", request.correlation_id
        )

    @workflow.signal(name=contract.CHANGED.name)
    def changed(self, change: MirrorChange) -> None:
        """A snapshot from the ERP change feed."""
        self._pending.append(change)

    @workflow.signal(name=contract.CRM_EDITED.name)
    def crm_edited(self, edit: AccountEdit) -> None:
        """A CRM user changed ERP-owned fields of an account mirroring this customer.
        One change event may arrive by two paths (a webhook relay and the change
        stream): its transaction key says it is the same edit."""
        key = f"{edit.transaction_key}:{edit.account_id}" if edit.transaction_key else None
        if key is not None and key in self._heard:
            return
        if key is not None:
            self._heard.append(key)
        self._edits.append(edit)

    @workflow.signal(name=contract.RETRY.name)
    def retry(self, request: RetryRequest) -> None:
        self._parking.request_retry(request)

    @workflow.query(name=contract.STATE.name)
    def state(self) -> MirrorState:
        return self._state.model_copy(update={"open_exception": self._parking.open_exception})

    @workflow.run
    async def run(self, request: MirrorInput) -> None:
        self._show()
        while (
            workflow.info().get_current_history_length() < request.history_limit
            and not workflow.info().is_continue_as_new_suggested()
        ):
            await workflow.wait_condition(lambda: bool(self._pending or self._edits))
            newest = self._take_newest()
            if newest is not None:
                await self._apply(newest, request.correlation_id)
            edits, self._edits = self._edits, []
            for edit in edits:
                await self._check_edit(edit, request.correlation_id)
        await workflow.wait_condition(workflow.all_handlers_finished)
        # Signals heard since the last change was taken are buffered here, not in the
        # engine: the next run gets them (of the snapshots, only the newest matters).
        newest = self._take_newest()
        workflow.continue_as_new(
            request.model_copy(
                update={
                    "latest": self._state.latest,
                    "written": self._state.written,
                    "account_ids": self._state.account_ids,
                    "status": self._state.status,
                    "pending": [newest] if newest is not None else [],
                    "edits": self._edits,
                    "heard_edits": list(self._heard),
                }
            )
        )

    def _take_newest(self) -> MirrorChange | None:
        """The newest pending snapshot, if it is newer than what was applied."""
        pending, self._pending = self._pending, []
        current = self._state.latest
        candidates = [c for c in pending if current is None or c.modified_at >= current.modified_at]
        if not candidates:
            return None
        newest = max(candidates, key=lambda c: c.modified_at)
        if newest == current:
            return None  # the same version read again
        return newest

    # -- applying the ERP's version ---------------------------------------------------

    async def _apply(self, change: MirrorChange, correlation_id: str) -> None:
        """Write one version to the CRM, parking until it can be written."""
        while True:
            try:
                if isinstance(change, CustomerChange):
                    await self._mirror_customer(change, correlation_id)
                else:
                    await self._mirror_item(change, correlation_id)
            except _Refused as problem:
                self._state.status = MirrorStatus.NEEDS_ATTENTION
                self._state.detail = problem.message
                self._show()
                await self._parking.park(
                    "mirror", problem.reason, problem.message, wake=lambda: bool(self._pending)
                )
                newer = self._take_newest()
                change = newer or change
                continue
            await self._parking.close()
            self._state.latest = change
            self._state.applied += 1
            self._state.detail = None
            self._show()
            return

    async def _mirror_customer(self, customer: CustomerChange, correlation_id: str) -> None:
        result = await _refusals(
            calls.crm_local(
                CrmActivities.mirror_customer,
                MirrorCustomerInput(customer=customer, correlation_id=correlation_id),
            )
        )
        if result.claimed_by_other:
            claims = ", ".join(
                f"account {account} already mirrors ERP customer {other}"
                for account, other in sorted(result.claimed_by_other.items())
            )
            raise _Refused(
                ExceptionReason.DUPLICATE_CUSTOMER,
                f"ERP customer {customer.id} ({customer.legal_name}) matches CRM accounts "
                f"another ERP customer owns: {claims}. Merge the customers in the ERP or "
                "correct the account's ERP customer id, then retry.",
            )
        self._state.account_ids = result.account_ids
        self._state.written = result.mirror
        self._state.status = (
            MirrorStatus.IN_SYNC if result.account_ids else MirrorStatus.NO_CRM_RECORD
        )

    async def _mirror_item(self, item: ItemChange, correlation_id: str) -> None:
        await _refusals(
            calls.crm_local(
                CrmActivities.mirror_item, MirrorItemInput(item=item, correlation_id=correlation_id)
            )
        )
        self._state.status = MirrorStatus.IN_SYNC

    # -- hearing the CRM --------------------------------------------------------------

    async def _check_edit(self, edit: AccountEdit, correlation_id: str) -> None:
        """Echo, or conflict. A conflict is recorded and the ERP's values restored."""
        written = self._state.written
        if written is None or self._state.latest is None:
            return  # nothing mirrored yet: nothing the CRM could conflict with
        ours = owned_values(written)
        differing = {
            name: value
            for name, value in edit.values.items()
            if name in ours and _blank(value) != _blank(ours[name])
        }
        if not differing:
            self._state.echoes_ignored += 1
            return
        self._state.conflicts += 1
        changes = "; ".join(
            f"{name} set to {value!r} (the ERP says {ours[name]!r})"
            for name, value in sorted(differing.items())
        )
        message = (
            f"CRM account {edit.account_id} was edited where the ERP owns the data: {changes}. "
            f"Nothing was sent to the ERP. Change it in the ERP (customer {self._state.erp_id}) "
            "if the CRM is right; retry writes the ERP's values back to the account."
        )
        self._state.status = MirrorStatus.NEEDS_ATTENTION
        self._state.detail = message
        self._show()
        await self._parking.park(
            "ownership",
            ExceptionReason.OWNERSHIP_CONFLICT,
            message,
            details={name: value or "" for name, value in differing.items()},
            wake=lambda: bool(self._pending),
        )
        newest = self._take_newest() or self._state.latest
        await self._apply(newest, correlation_id)

    # -- status -----------------------------------------------------------------------

    def _show(self) -> None:
        """The mirror's status in the Web UI's search attributes: only what changed is
        upserted (the start set ``pending`` and a customer's id)."""
        sa.show(
            contract.mirror_attributes(self._state.kind, self._state.erp_id, self._state.status)
        )
