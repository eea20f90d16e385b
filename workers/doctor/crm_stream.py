"""The CRM change stream (``SYNCLINE_CRM_STREAM=pubsub``): can the worker reach the
Pub/Sub API with its CRM session, and may it subscribe to each channel?

A warning, not a failure: without the stream, deals still arrive by webhook; what is
lost is the replay of what an outage of the ingress dropped."""

from __future__ import annotations

from connectors.errors import ConnectorError
from connectors.salesforce import SalesforceClient
from connectors.salesforce.pubsub import PubSubClient
from workers.doctor.context import DoctorContext
from workers.doctor.crm import crm_login
from workers.doctor.model import Outcome, Skipped, failed, passed

_FIX = (
    "select Opportunity and Account for change data capture (Setup, Change Data Capture), "
    "give the integration user read on them, and let the worker reach "
    "SYNCLINE_CRM_PUBSUB_ADDRESS; or set SYNCLINE_CRM_STREAM=off for webhooks alone"
)


async def check_change_stream(ctx: DoctorContext) -> Outcome:
    settings = ctx.settings
    if settings.crm_stream == "off":
        return passed("off: deals reach Syncline by webhook alone (SYNCLINE_CRM_STREAM=off)")
    crm = ctx.crm()
    if not isinstance(crm, SalesforceClient):
        raise Skipped(f"no Pub/Sub API for {type(crm).__name__}")
    await ctx.requires(crm_login(ctx), "the CRM login failed (see crm.login)")
    pubsub = PubSubClient(settings.crm_pubsub_address, crm, tls=settings.crm_pubsub_tls)
    problems = []
    try:
        for channel in settings.stream_channels:
            try:
                topic = await pubsub.get_topic(channel)
            except ConnectorError as error:
                problems.append(f"{channel}: {error}")
                continue
            if not topic.can_subscribe:
                problems.append(f"{channel}: the integration user may not subscribe")
    finally:
        await pubsub.aclose()
    if problems:
        return failed("; ".join(problems), _FIX)
    channels = ", ".join(settings.stream_channels)
    return passed(f"{channels} on {settings.crm_pubsub_address}: the worker may subscribe")
