"""NetSuite: the login, the records and custom fields Syncline writes (metadata catalog),
and the account's concurrency limit (``governanceLimits``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from connectors.errors import AuthError, NotFoundError
from connectors.netsuite import NetSuiteClient
from connectors.netsuite.client import ADDRESS_QUERY
from connectors.netsuite.currency_codes import CURRENCY_QUERY
from workers.doctor.model import Outcome, failed, passed

STRING = frozenset({"string"})
NUMBER = frozenset({"number", "integer"})
BOOLEAN = frozenset({"boolean"})
REFERENCE = frozenset({"object"})
# A custom field may be free-form text or a custom list (a reference to a list value).
TEXT_OR_LIST = frozenset({"string", "object"})


@dataclass(frozen=True)
class FieldNeed:
    path: str
    """``name``, or ``sublist[].name`` for a field of a sublist's lines."""
    types: frozenset[str]
    custom: bool = False


# What ``connectors/netsuite/mapping.py`` writes and reads through the record API. Items,
# invoices and subscriptions are read through SuiteQL only: ``erp.queries`` runs those.
RECORDS: dict[str, tuple[FieldNeed, ...]] = {
    "customer": (
        FieldNeed("externalId", STRING),
        FieldNeed("companyName", STRING),
        FieldNeed("currency", REFERENCE),
        FieldNeed("isInactive", BOOLEAN),
        FieldNeed("addressBook", REFERENCE),
        FieldNeed("custentity_tax_id", STRING, custom=True),
    ),
    "salesOrder": (
        FieldNeed("externalId", STRING),
        FieldNeed("tranId", STRING),
        FieldNeed("entity", REFERENCE),
        FieldNeed("currency", REFERENCE),
        FieldNeed("tranDate", STRING),
        FieldNeed("memo", STRING),
        FieldNeed("status", REFERENCE),
        FieldNeed("total", NUMBER),
        FieldNeed("item[].item", REFERENCE),
        FieldNeed("item[].quantity", NUMBER),
        FieldNeed("item[].rate", NUMBER),
        FieldNeed("item[].description", STRING),
        FieldNeed("item[].custcol_revenue_type", TEXT_OR_LIST, custom=True),
        FieldNeed("item[].custcol_term_months", NUMBER, custom=True),
        # The approver's reason, read when an order is rejected at approval.
        FieldNeed("custbody_rejection_reason", STRING, custom=True),
    ),
}

Fetch = Callable[[str], Awaitable[dict[str, Any]]]


async def _properties(node: dict[str, Any], fetch: Fetch) -> dict[str, Any]:
    """A schema node's properties, following a ``$ref`` to another catalog entry (how
    NetSuite may describe a sublist's lines)."""
    ref = node.get("$ref")
    if isinstance(ref, str) and "properties" not in node:
        node = await fetch(ref.rstrip("/").rsplit("/", 1)[-1])
    properties = node.get("properties")
    return properties if isinstance(properties, dict) else {}


async def _field(schema: dict[str, Any], path: str, fetch: Fetch) -> dict[str, Any] | None:
    properties = await _properties(schema, fetch)
    *sublists, name = path.split("[].")
    for sublist in sublists:
        node = properties.get(sublist)
        if not isinstance(node, dict):
            return None
        lines = (await _properties(node, fetch)).get("items")
        if not isinstance(lines, dict) or not isinstance(lines.get("items"), dict):
            return None
        properties = await _properties(lines["items"], fetch)
    found = properties.get(name)
    return found if isinstance(found, dict) else None


def record_problems(
    needs: tuple[FieldNeed, ...], found: dict[str, dict[str, Any] | None]
) -> list[str]:
    missing = [n.path for n in needs if found.get(n.path) is None]
    problems = [f"missing: {', '.join(missing)}"] if missing else []
    for need in needs:
        field = found.get(need.path)
        if field is None:
            continue
        kind = field.get("type")
        if kind not in need.types:
            problems.append(f"{need.path} is {kind}, needs {' or '.join(sorted(need.types))}")
        if need.custom and not field.get("x-ns-custom-field"):
            problems.append(f"{need.path} is not a custom field")
    return problems


async def check_records(erp: NetSuiteClient) -> Outcome:
    problems: list[str] = []
    for record, needs in RECORDS.items():
        try:
            schema = await erp.metadata_catalog(record)
        except NotFoundError:
            problems.append(f"{record}: not in the metadata catalog for this role")
            continue
        found = {need.path: await _field(schema, need.path, erp.metadata_catalog) for need in needs}
        problems += [f"{record}: {p}" for p in record_problems(needs, found)]
    if problems:
        return failed(
            "; ".join(problems),
            "deploy Syncline's NetSuite custom fields (custentity_tax_id, custcol_revenue_type, "
            "custcol_term_months, custitem_*, custbody_rejection_reason) and give Syncline's "
            "role access to customers and sales orders",
        )
    fields = sum(len(needs) for needs in RECORDS.values())
    return passed(f"{fields} fields on {', '.join(RECORDS)}, custom ones included")


async def check_concurrency(erp: NetSuiteClient, configured: int) -> Outcome:
    try:
        limits = await erp.governance_limits()
    except (AuthError, NotFoundError) as error:
        return passed(
            f"the account's limit is not readable by Syncline's role ({error}); "
            f"SYNCLINE_ERP_MAX_CONCURRENCY={configured} must stay within it"
        )
    kind = limits.get("integrationLimitType")
    if kind == "integrationSpecific" and limits.get("integrationConcurrencyLimit") is not None:
        allowed, source = int(limits["integrationConcurrencyLimit"]), "allocated to Syncline"
    else:
        allowed = int(limits.get("accountUnallocatedConcurrencyLimit") or 0)
        source = "unallocated on the account"
    account = limits.get("accountConcurrencyLimit")
    detail = (
        f"SYNCLINE_ERP_MAX_CONCURRENCY={configured}; {allowed} concurrent requests "
        f"{source} (account limit {account})"
    )
    if configured > allowed:
        return failed(
            detail + ": NetSuite refuses the excess with SSS_REQUEST_LIMIT_EXCEEDED",
            f"set SYNCLINE_ERP_MAX_CONCURRENCY to {allowed} or less (all workers together), "
            "or allocate more to Syncline's integration record",
        )
    return passed(detail)


async def check_lookups(erp: NetSuiteClient) -> list[str]:
    """The look-ups the connector makes beside the feed's own pages, which an empty
    account's pages never reach: the currency list (SuiteQL answers a record's currency
    by internal id) and customers' addresses."""
    problems: list[str] = []
    for what, query in (
        ("currencies", CURRENCY_QUERY),
        ("customer addresses", f"{ADDRESS_QUERY} WHERE nkey IN (0)"),
    ):
        try:
            await erp.suiteql(query)
        except Exception as error:
            problems.append(f"{what}: {error}")
    return problems
