"""Every check, in the order the report lists them. ``required=False`` is a warning: it
is reported, but a deal goes through without it."""

from __future__ import annotations

from workers.doctor import clock, config_secrets, credentials, crm, crm_stream, database, erp
from workers.doctor import temporal_checks as temporal
from workers.doctor.model import Check

CHECKS: tuple[Check, ...] = (
    Check(
        "secrets",
        config_secrets.check_secrets,
        "set SYNCLINE_WEBHOOK_SECRET (and SYNCLINE_API_TOKEN, if set at all, to a real secret)",
    ),
    Check(
        "temporal.connection",
        temporal.check_connection,
        "start Temporal, or set TEMPORAL_ADDRESS to its frontend (host:port)",
    ),
    Check(
        "temporal.namespace",
        temporal.check_namespace,
        "create the namespace, or set TEMPORAL_NAMESPACE to the one Syncline should use",
    ),
    Check(
        "temporal.search_attributes",
        temporal.check_search_attributes,
        "register Syncline's search attributes (README, Operations)",
    ),
    Check(
        "temporal.schedule",
        temporal.check_schedule,
        "start `syncline worker`: it creates and updates the nightly Schedule",
        required=False,
    ),
    Check(
        "database",
        database.check_database,
        "check SYNCLINE_DATABASE_URL and that the database server is up, then run "
        "`syncline migrate`",
    ),
    Check(
        "crm.credentials",
        credentials.check_crm_credentials,
        "set the CRM credentials (SYNCLINE_CRM_*)",
    ),
    Check(
        "crm.login",
        crm.check_login,
        "check SYNCLINE_CRM_BASE_URL and the CRM credentials",
    ),
    Check(
        "crm.deal_fields",
        crm.check_deal_fields,
        "check the Syncline fields and the integration user's permission set in Salesforce",
    ),
    Check(
        "crm.mirror_fields",
        crm.check_mirror_fields,
        "check the integration user's permission set in Salesforce",
        required=False,
    ),
    Check(
        "crm.change_stream",
        crm_stream.check_change_stream,
        "check SYNCLINE_CRM_PUBSUB_ADDRESS, or set SYNCLINE_CRM_STREAM=off",
        required=False,
    ),
    Check("crm.clock", clock.check_crm_clock, "synchronise this machine's clock with NTP"),
    Check(
        "erp.credentials",
        credentials.check_erp_credentials,
        "set the ERP credentials (SYNCLINE_ERP_*)",
    ),
    Check("erp.login", erp.check_login, "check SYNCLINE_ERP_BASE_URL and the ERP credentials"),
    Check(
        "erp.records",
        erp.check_records,
        "check Syncline's custom fields and its role's permissions in the ERP",
    ),
    Check(
        "erp.queries",
        erp.check_queries,
        "check Syncline's role's permissions in the ERP",
    ),
    Check(
        "erp.concurrency",
        erp.check_concurrency,
        "set SYNCLINE_ERP_MAX_CONCURRENCY within the ERP's limit",
        required=False,
    ),
    Check("erp.clock", clock.check_erp_clock, "synchronise this machine's clock with NTP"),
)
