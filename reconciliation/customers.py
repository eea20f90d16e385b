"""Customers: each ERP customer against the CRM accounts that mirror it and the
ledger's ``customer.upserted`` of its current version."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from models.changes import ChangeKind, CustomerChange
from models.crm import Account
from models.events import SourceSystem
from models.facts import customer_upserted_event
from models.lifecycle import owned_fields
from models.reconciliation import Domain, DriftClass, Finding, Remedy
from reconciliation.context import Batch, PassContext, Policy
from reconciliation.erp_records import erp_pages


def account_values(account: Account) -> dict[str, str | None]:
    """The account's ERP-owned fields, as the CRM holds them now."""
    return owned_fields(
        legal_name=account.legal_name,
        tax_id=account.tax_id,
        erp_customer_id=account.erp_customer_id,
        address=account.billing_address,
    )


def customer_values(customer: CustomerChange) -> dict[str, str | None]:
    """The same fields as the ERP has them."""
    return owned_fields(
        legal_name=customer.legal_name,
        tax_id=customer.tax_id,
        erp_customer_id=customer.id,
        address=customer.billing_address,
    )


def differing_fields(customer: CustomerChange, account: Account) -> dict[str, str | None]:
    """The account's values that differ from the ERP's (blank and missing are equal)."""
    erp, crm = customer_values(customer), account_values(account)
    return {
        name: crm[name] for name in erp if (crm[name] or "").strip() != (erp[name] or "").strip()
    }


def classify_customer(
    customer: CustomerChange,
    accounts: Sequence[Account],
    recorded: bool,
    twin: str | None,
    policy: Policy,
    *,
    repair_pending: bool = False,
) -> Finding | None:
    """``twin`` is an earlier active ERP customer with the same tax id, if any."""

    def finding(drift: DriftClass, remedy: Remedy, summary: str, **evidence: str) -> Finding:
        drift, remedy, summary = policy.judge(
            drift, remedy, summary, customer.modified_at, repair_pending
        )
        return Finding(
            domain=Domain.CUSTOMERS,
            key=customer.id,
            drift=drift,
            remedy=remedy,
            summary=summary,
            erp=customer.legal_name,
            erp_id=customer.id,
            record=customer.model_dump(mode="json"),
            evidence={"legal_name": customer.legal_name, **evidence},
        )

    if twin is not None:
        return finding(
            DriftClass.DUPLICATE_CUSTOMER,
            Remedy.EXCEPTION,
            f"ERP customers {twin} and {customer.id} share tax id {customer.tax_id}",
            duplicate_of=twin,
            tax_id=customer.tax_id or "",
        )
    for account in accounts:
        differing = differing_fields(customer, account)
        if differing:
            fields = ", ".join(f"{name}={value!r}" for name, value in sorted(differing.items()))
            found = finding(
                DriftClass.OWNERSHIP_CONFLICT,
                Remedy.SIGNAL_MIRROR,
                f"CRM account {account.id} differs from ERP customer {customer.id}: {fields}",
                account_id=account.id,
                **{f"crm.{name}": value or "" for name, value in differing.items()},
            )
            found.crm = account.legal_name
            return found
    if not recorded:
        return finding(
            DriftClass.MISSING_LEDGER_EVENT,
            Remedy.REPUBLISH,
            f"the current version of ERP customer {customer.id} has no customer.upserted",
        )
    return None


async def customers_pass(ctx: PassContext, checkpoint: str | None) -> AsyncIterator[Batch]:
    # Tax ids seen so far (hashed: a run over many customers keeps 8 bytes each). A
    # run resumed after a crash starts this afresh, so it may miss a duplicate pair
    # straddling the crash; the next run finds it.
    first_with_tax_id: dict[bytes, str] = {}
    async for page, position in erp_pages(ctx, ChangeKind.CUSTOMER, checkpoint):
        customers = [
            c for c in page if isinstance(c, CustomerChange) and c.is_active and ctx.wanted(c.id)
        ]
        accounts = await ctx.crm.accounts_mirroring([c.id for c in customers])
        by_customer: dict[str, list[Account]] = {}
        for account in accounts:
            by_customer.setdefault(account.erp_customer_id or "", []).append(account)
        versions = {c.id: _upserted_id(c, ctx.erp_system, ctx.policy.now) for c in customers}
        recorded = await ctx.store.existing_event_ids(list(versions.values()))
        batch = Batch(compared=len(customers), findings=[], checkpoint=position)
        for customer in customers:
            twin = _twin(first_with_tax_id, customer)
            found = classify_customer(
                customer,
                by_customer.get(customer.id, []),
                versions[customer.id] in recorded,
                twin,
                ctx.policy,
                repair_pending=customer.id in ctx.pending_repairs,
            )
            if found is not None:
                batch.findings.append(found)
            batch.saw(customer.modified_at)
        yield batch


def _upserted_id(customer: CustomerChange, system: SourceSystem, now: datetime) -> uuid.UUID:
    return customer_upserted_event(customer, system, "reconciliation", now).event_id


def _twin(seen: dict[bytes, str], customer: CustomerChange) -> str | None:
    tax_id = (customer.tax_id or "").strip().upper()
    if not tax_id:
        return None
    digest = hashlib.blake2b(tax_id.encode(), digest_size=8).digest()
    first = seen.setdefault(digest, customer.id)
    return None if first == customer.id else first
