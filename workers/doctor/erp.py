"""The ERP (NetSuite, or Tryton): the login, the records and fields Syncline uses, the
connector's own reads, and concurrency headroom."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.errors import AuthError, TransientError
from connectors.netsuite import NetSuiteClient
from connectors.tryton import TrytonClient
from models.billing import ChangeCursor
from workers.doctor import erp_netsuite, erp_tryton
from workers.doctor.context import DoctorContext
from workers.doctor.model import Outcome, Skipped, failed, passed

_NOT_LOGGED_IN = "the ERP login failed (see erp.login)"
# A SKU no catalog has: ``find_items`` runs its real query and finds nothing.
_PROBE_SKU = "syncline-doctor-probe"
_EPOCH = ChangeCursor(modified_at=datetime(1970, 1, 1, tzinfo=UTC))


async def _login_step(ctx: DoctorContext) -> str:
    erp = ctx.erp()
    if isinstance(erp, NetSuiteClient):
        catalog = await erp.metadata_catalog()
        return f"{len(catalog.get('items') or [])} record types in the metadata catalog"
    if isinstance(erp, TrytonClient):
        return f"company {await erp_tryton.company(erp)}"
    raise Skipped(f"no login check for {type(erp).__name__}")


async def _login(ctx: DoctorContext) -> str:
    return await ctx.step("erp.login", lambda: _login_step(ctx))


async def check_login(ctx: DoctorContext) -> Outcome:
    settings = ctx.settings
    who = settings.erp_database if settings.erp_kind == "tryton" else settings.erp_client_id
    try:
        found = await _login(ctx)
    except (AuthError, LookupError) as error:
        return failed(
            f"{settings.erp_base_url} refused Syncline: {error}",
            "check SYNCLINE_ERP_CLIENT_ID and SYNCLINE_ERP_CLIENT_SECRET against the "
            "integration record (NetSuite), or the application key and SYNCLINE_ERP_COMPANY "
            "(Tryton)",
        )
    except TransientError as error:
        return failed(
            f"{settings.erp_base_url} did not answer: {error}",
            "check SYNCLINE_ERP_BASE_URL and the network to it",
        )
    return passed(f"logged in to {settings.erp_base_url} ({settings.erp_kind}, {who}): {found}")


async def check_records(ctx: DoctorContext) -> Outcome:
    await ctx.requires(_login(ctx), _NOT_LOGGED_IN)
    erp = ctx.erp()
    if isinstance(erp, NetSuiteClient):
        return await erp_netsuite.check_records(erp)
    if isinstance(erp, TrytonClient):
        return await erp_tryton.check_models(erp)
    raise Skipped(f"no record checks for {type(erp).__name__}")


async def check_queries(ctx: DoctorContext) -> Outcome:
    """The connector's own reads, each asked for one record from the beginning of time: an
    unknown table or column, a missing permission or feature (SuiteBilling's subscriptions)
    fails here as it would fail the worker."""
    await ctx.requires(_login(ctx), _NOT_LOGGED_IN)
    erp = ctx.erp()
    problems: list[str] = []
    try:
        await erp.find_items([_PROBE_SKU])
    except Exception as error:
        problems.append(f"items by SKU: {error}")
    kinds = sorted(erp.change_kinds, key=lambda kind: kind.value)
    for kind in kinds:
        try:
            await erp.changes(kind, _EPOCH, 1)
        except Exception as error:
            problems.append(f"{kind.value} changes: {error}")
    if isinstance(erp, NetSuiteClient):
        problems += await erp_netsuite.check_lookups(erp)
    if problems:
        return failed(
            "; ".join(problems),
            "give Syncline's role or user read access to what is named (NetSuite: SuiteQL "
            "through SuiteAnalytics Workbook, and the SuiteBilling feature for subscriptions)",
        )
    return passed(f"items by SKU and {', '.join(k.value for k in kinds)} changes read")


async def check_concurrency(ctx: DoctorContext) -> Outcome:
    configured = ctx.settings.erp_max_concurrency
    await ctx.requires(_login(ctx), _NOT_LOGGED_IN)
    erp = ctx.erp()
    if isinstance(erp, NetSuiteClient):
        return await erp_netsuite.check_concurrency(erp, configured)
    return passed(
        f"SYNCLINE_ERP_MAX_CONCURRENCY={configured}; {ctx.settings.erp_kind} publishes no "
        "limit: match it to the server's worker processes"
    )
