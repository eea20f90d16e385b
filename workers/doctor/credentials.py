"""The CRM and ERP credentials, checked per auth method before any login.

The login checks (``crm.login``, ``erp.login``) prove the whole chain; these say what is
wrong before it, without a network call: a secret still at its placeholder, and, for the
auth methods being added (Salesforce JWT bearer, NetSuite OAuth 2.0 M2M or token-based
auth), a private key that does not parse, a certificate id missing, a certificate about
to expire.

The hook for a new auth method: make ``crm_auth_method`` / ``erp_auth_method`` return
its name when the settings choose it, and register one function for it in
``CRM_AUTH_CHECKS`` / ``ERP_AUTH_CHECKS``. A method without an entry passes with a note
(its login check still runs), so adding a method never breaks the doctor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pydantic import SecretStr

from workers.doctor.context import DoctorContext
from workers.doctor.model import Outcome, failed, passed
from workers.settings import Settings

CredentialCheck = Callable[[Settings], Outcome]


def _shipped_default(name: str) -> object:
    """The value a setting has when nobody set it: the placeholder, for secrets."""
    default = Settings.model_fields[name].default
    return default.get_secret_value() if isinstance(default, SecretStr) else default


def is_placeholder(value: str) -> bool:
    """Empty, or the placeholder secrets ship with (in ``deploy/example.env`` too)."""
    return not value.strip() or value == _shipped_default("webhook_secret")


def unset(settings: Settings, name: str) -> bool:
    """Whether a secret or id is empty or still the placeholder it ships with."""
    value = getattr(settings, name)
    text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return is_placeholder(text) or text == _shipped_default(name)


def _unset_names(settings: Settings, *names: str) -> list[str]:
    return [f"SYNCLINE_{name.upper()}" for name in names if unset(settings, name)]


def crm_auth_method(settings: Settings) -> str:
    """The auth method the settings choose for the CRM. The connector knows OAuth 2.0
    client credentials only; the setting choosing another is read here when it lands."""
    return "client_credentials"


def erp_auth_method(settings: Settings) -> str:
    """The auth method the settings choose for the ERP (NetSuite: client credentials
    today, read from its setting here when M2M or token-based auth land)."""
    return "application_key" if settings.erp_kind == "tryton" else "client_credentials"


def _crm_client_credentials(settings: Settings) -> Outcome:
    missing = _unset_names(settings, "crm_client_id", "crm_client_secret")
    if missing:
        return failed(
            f"{' and '.join(missing)} not set (empty or the placeholder)",
            "set them to the consumer key and secret of Syncline's connected app "
            "(client credentials flow enabled, with a run-as integration user)",
        )
    return passed("OAuth 2.0 client credentials: client id and secret set (not shown)")


def _netsuite_client_credentials(settings: Settings) -> Outcome:
    missing = _unset_names(settings, "erp_client_id", "erp_client_secret")
    if missing:
        return failed(
            f"{' and '.join(missing)} not set (empty or the placeholder)",
            "set them to the client id and secret of Syncline's NetSuite integration record",
        )
    return passed("OAuth 2.0 client credentials: client id and secret set (not shown)")


def _tryton_application_key(settings: Settings) -> Outcome:
    missing = _unset_names(settings, "erp_client_secret")
    if not settings.erp_database.strip():
        missing.append("SYNCLINE_ERP_DATABASE")
    if missing:
        return failed(
            f"{' and '.join(missing)} not set (empty or the placeholder)",
            "set SYNCLINE_ERP_CLIENT_SECRET to a validated REST application key of the "
            "Syncline user (Tryton: User > Applications) and SYNCLINE_ERP_DATABASE to the "
            "database",
        )
    return passed(f"REST application key set (not shown), database {settings.erp_database!r}")


CRM_AUTH_CHECKS: Mapping[str, CredentialCheck] = {
    "client_credentials": _crm_client_credentials,
}
ERP_AUTH_CHECKS: Mapping[str, CredentialCheck] = {
    "client_credentials": _netsuite_client_credentials,
    "application_key": _tryton_application_key,
}


def _by_method(method: str, checks: Mapping[str, CredentialCheck], settings: Settings) -> Outcome:
    check = checks.get(method)
    if check is None:
        return passed(f"{method}: no check of its own yet (the login check still tries it)")
    return check(settings)


async def check_crm_credentials(ctx: DoctorContext) -> Outcome:
    settings = ctx.settings
    return _by_method(crm_auth_method(settings), CRM_AUTH_CHECKS, settings)


async def check_erp_credentials(ctx: DoctorContext) -> Outcome:
    settings = ctx.settings
    return _by_method(erp_auth_method(settings), ERP_AUTH_CHECKS, settings)
