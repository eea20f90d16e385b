"""The CRM (Salesforce): the login, and the objects and fields Syncline reads and writes,
as describe shows them to the integration user."""

from __future__ import annotations

from functools import partial
from typing import Any

from connectors.errors import AuthError, ConnectorError, TransientError
from connectors.salesforce import SalesforceClient
from workers.doctor.context import DoctorContext
from workers.doctor.crm_needs import DEAL, MIRRORS, ObjectNeed, object_problems
from workers.doctor.model import Outcome, Skipped, failed, passed

_NOT_LOGGED_IN = "the CRM login failed (see crm.login)"


def _salesforce(ctx: DoctorContext) -> SalesforceClient:
    crm = ctx.crm()
    if not isinstance(crm, SalesforceClient):
        raise Skipped(f"no describe checks for {type(crm).__name__}")
    return crm


async def crm_login(ctx: DoctorContext) -> dict[str, Any]:
    """The CRM login, once per run whichever check asks first (``crm.login`` reports it)."""
    return await ctx.step("crm.login", _salesforce(ctx).describe_global)


async def check_login(ctx: DoctorContext) -> Outcome:
    settings = ctx.settings
    try:
        described = await crm_login(ctx)
    except AuthError as error:
        return failed(
            f"{settings.crm_base_url} refused the credentials: {error}",
            "check SYNCLINE_CRM_CLIENT_ID and SYNCLINE_CRM_CLIENT_SECRET against the connected "
            "app (client credentials flow enabled, a run-as integration user)",
        )
    except TransientError as error:
        return failed(
            f"{settings.crm_base_url} did not answer: {error}",
            "check SYNCLINE_CRM_BASE_URL (your org's My Domain URL) and the network to it",
        )
    visible = len(described.get("sobjects") or [])
    return passed(
        f"logged in to {settings.crm_base_url} as {settings.crm_client_id}; "
        f"{visible} objects visible"
    )


async def _objects_check(ctx: DoctorContext, needs: tuple[ObjectNeed, ...], fix: str) -> Outcome:
    described = await ctx.requires(crm_login(ctx), _NOT_LOGGED_IN)
    visible = {
        str(o.get("name", "")).lower()
        for o in described.get("sobjects") or []
        if isinstance(o, dict)
    }
    crm = _salesforce(ctx)
    problems: list[str] = []
    fields = 0
    for need in needs:
        if need.name.lower() not in visible:
            problems.append(f"{need.name}: not visible to the integration user")
            continue
        try:
            describe = await ctx.step(f"crm.describe.{need.name}", partial(crm.describe, need.name))
        except ConnectorError as error:
            problems.append(f"{need.name}: describe failed: {error}")
            continue
        problems += [f"{need.name}: {problem}" for problem in object_problems(need, describe)]
        fields += len(need.fields)
    if problems:
        return failed("; ".join(problems), fix)
    names = ", ".join(dict.fromkeys(need.name for need in needs))
    return passed(f"{fields} fields on {names}: present, of usable types, with the rights needed")


async def check_deal_fields(ctx: DoctorContext) -> Outcome:
    return await _objects_check(
        ctx,
        DEAL,
        "create the Syncline fields on Opportunity (Syncline's Salesforce setup package) "
        "and give the integration user's permission set read and edit on them, and read on "
        "Opportunity, OpportunityLineItem, Product2 and Account",
    )


async def check_mirror_fields(ctx: DoctorContext) -> Outcome:
    return await _objects_check(
        ctx,
        MIRRORS,
        "give the integration user's permission set edit on the Account legal fields, "
        "create and edit on Product2 and PricebookEntry, and create on Opportunity "
        "(the mirrors and renewals park until it has them)",
    )
