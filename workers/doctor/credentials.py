"""The CRM and ERP credentials, checked per auth method before any login.

The login checks (``crm.login``, ``erp.login``) prove the whole chain; these say what is
wrong before it, without a network call: a secret still at its placeholder, a private
key that does not parse or that the system would refuse, a certificate id missing. They
build the credentials the way the worker does (``workers.wiring``), so a key the worker
would refuse at start-up fails here with the same words.

A new auth method registers one function in ``CRM_AUTH_CHECKS`` / ``ERP_AUTH_CHECKS``
under the name its setting uses. A method without an entry passes with a note (its
login check still runs), so adding a method never breaks the doctor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pydantic import SecretStr

from workers.doctor.context import DoctorContext
from workers.doctor.model import Outcome, failed, passed
from workers.settings import Settings
from workers.wiring import build_crm_grant, netsuite_credentials

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
    """The auth method the settings choose for the CRM (``SYNCLINE_CRM_AUTH``)."""
    return settings.crm_auth


def erp_auth_method(settings: Settings) -> str:
    """The auth method the settings choose for the ERP: Tryton's application key, or
    NetSuite's ``SYNCLINE_ERP_AUTH``."""
    return "application_key" if settings.erp_kind == "tryton" else settings.erp_auth


def _crm_client_credentials(settings: Settings) -> Outcome:
    missing = _unset_names(settings, "crm_client_id", "crm_client_secret")
    if missing:
        return failed(
            f"{' and '.join(missing)} not set (empty or the placeholder)",
            "set them to the consumer key and secret of Syncline's connected app "
            "(client credentials flow enabled, with a run-as integration user)",
        )
    return passed("OAuth 2.0 client credentials: client id and secret set (not shown)")


def _crm_jwt_bearer(settings: Settings) -> Outcome:
    missing = _unset_names(settings, "crm_client_id")
    if missing:
        return failed(
            f"{' and '.join(missing)} not set (empty or the placeholder)",
            "set it to the consumer key of Syncline's connected app",
        )
    try:
        grant = build_crm_grant(settings)
    except (OSError, ValueError) as error:
        return failed(
            f"the JWT bearer grant cannot be built: {type(error).__name__}",
            "point SYNCLINE_CRM_PRIVATE_KEY_FILE at the PEM private key whose certificate is "
            "uploaded to the connected app, and set SYNCLINE_CRM_USERNAME",
        )
    return passed(f"JWT bearer grant ready: {grant!r} (key not shown)")


def _netsuite_oauth2_jwt(settings: Settings) -> Outcome:
    try:
        credentials = netsuite_credentials(settings)
    except (OSError, ValueError) as error:
        return failed(
            f"OAuth 2.0 client credentials cannot be built: {error}",
            "set SYNCLINE_ERP_CLIENT_ID, SYNCLINE_ERP_CERTIFICATE_ID (the id NetSuite shows "
            "after mapping the certificate) and SYNCLINE_ERP_PRIVATE_KEY_FILE (RSA 3072/4096 "
            "or EC P-256/384/521, PEM)",
        )
    return passed(f"OAuth 2.0 client credentials: {credentials!r} (key not shown)")


def _netsuite_tba(settings: Settings) -> Outcome:
    try:
        credentials = netsuite_credentials(settings)
    except ValueError as error:
        return failed(
            f"token-based authentication cannot be set up: {error}",
            "set SYNCLINE_ERP_ACCOUNT_ID, the integration's consumer key and secret and the "
            "access token's id and secret (SYNCLINE_ERP_CONSUMER_*, SYNCLINE_ERP_TOKEN_*)",
        )
    return passed(f"token-based authentication: {credentials!r} (secrets not shown)")


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
    "jwt": _crm_jwt_bearer,
}
ERP_AUTH_CHECKS: Mapping[str, CredentialCheck] = {
    "oauth2_jwt": _netsuite_oauth2_jwt,
    "tba": _netsuite_tba,
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
