"""The secrets Syncline itself holds: the webhook secret it shares with the CRM's sender,
and, deprecated, the operator API's shared token (operators have keys of their own)."""

from __future__ import annotations

from workers.doctor.context import DoctorContext
from workers.doctor.credentials import is_placeholder, unset
from workers.doctor.model import Outcome, failed, passed

_FIX = (
    "set each to a long random value (openssl rand -hex 32); the webhook secret must be "
    "the one the CRM's sender signs with"
)


async def check_secrets(ctx: DoctorContext) -> Outcome:
    settings = ctx.settings
    problems = []
    if unset(settings, "webhook_secret"):
        problems.append("SYNCLINE_WEBHOOK_SECRET is empty or the placeholder")
    # Unset is fine (operators sign in with keys or OIDC); set, it must be a real secret.
    token = settings.api_token
    if token is not None and is_placeholder(token.get_secret_value()):
        problems.append("SYNCLINE_API_TOKEN is empty or the placeholder")
    # An empty previous secret is no rotation (the API ignores it); the placeholder is one.
    previous = settings.webhook_secret_previous
    previous_value = previous.get_secret_value() if previous is not None else ""
    if previous_value and is_placeholder(previous_value):
        problems.append("SYNCLINE_WEBHOOK_SECRET_PREVIOUS is the placeholder")
    if problems:
        return failed("; ".join(problems), _FIX)
    rotating = " (rotating: the previous one is still accepted)" if previous_value else ""
    shared = (
        "; the deprecated shared operator token is set: give people keys, then unset it"
        if token is not None
        else ""
    )
    return passed(f"webhook secret set, not shown{rotating}{shared}")
