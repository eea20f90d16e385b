"""The secrets Syncline itself holds: the webhook secret it shares with the CRM's sender,
and the operator API's bearer token."""

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
    problems = [
        f"SYNCLINE_{name.upper()} is empty or the placeholder"
        for name in ("webhook_secret", "api_token")
        if unset(settings, name)
    ]
    # An empty previous secret is no rotation (the API ignores it); the placeholder is one.
    previous = settings.webhook_secret_previous
    previous_value = previous.get_secret_value() if previous is not None else ""
    if previous_value and is_placeholder(previous_value):
        problems.append("SYNCLINE_WEBHOOK_SECRET_PREVIOUS is the placeholder")
    if problems:
        return failed("; ".join(problems), _FIX)
    rotating = " (rotating: the previous one is still accepted)" if previous_value else ""
    return passed(f"webhook secret and operator token set, not shown{rotating}")
