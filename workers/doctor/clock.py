"""Clock skew against the CRM and the ERP: the ``Date`` of an answer against this clock.

Signed webhooks carry a timestamp checked within 5 minutes, access tokens and JWT
assertions carry issue and expiry times, and the change feed's cursor is the ERP's
clock: a machine whose clock is off by minutes refuses good deliveries and gets its
tokens refused. Temporal is not compared: gRPC answers carry no ``Date``.
"""

from __future__ import annotations

import time
from datetime import UTC
from email.utils import parsedate_to_datetime

import httpx

from workers.doctor.context import DoctorContext
from workers.doctor.model import Outcome, Skipped, failed, passed

MAX_SKEW_SECONDS = 60.0


def _server_time(response: httpx.Response) -> float | None:
    # A proxy may add its own Date to the server's: the first one is the server's.
    for value in response.headers.get_list("date"):
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return None


async def measure_skew(url: str) -> float | None:
    """Seconds the server's clock is ahead of this one (negative: behind), or None when
    it sends no ``Date``. Any answer will do, an error page included."""
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as http:
        sent = time.time()
        response = await http.get(url)
        received = time.time()
    server = _server_time(response)
    if server is None:
        return None
    # ``Date`` is whole seconds, stamped somewhere within the round trip: take its middle,
    # and the half second the truncation loses on average.
    return server + 0.5 - (sent + received) / 2


async def _check(name: str, url: str, login_check: str) -> Outcome:
    try:
        skew = await measure_skew(url)
    except httpx.TransportError:
        raise Skipped(f"{url} is unreachable (see {login_check})") from None
    if skew is None:
        return passed(f"{url} sends no Date header: its clock cannot be compared")
    direction = "ahead of" if skew > 0 else "behind"
    detail = f"{name}'s clock is {abs(skew):.0f} s {direction} this machine's"
    if abs(skew) > MAX_SKEW_SECONDS:
        return failed(
            f"{detail}: over {MAX_SKEW_SECONDS:.0f} s, webhook signatures and tokens are "
            "refused as expired or not yet valid",
            "synchronise this machine's clock with NTP (chrony or systemd-timesyncd); if it "
            f"already is, {name}'s clock is the one that is off",
        )
    return passed(detail if abs(skew) >= 2 else f"{name}'s clock is within 2 s of this machine's")


async def check_crm_clock(ctx: DoctorContext) -> Outcome:
    return await _check("the CRM", ctx.settings.crm_base_url, "crm.login")


async def check_erp_clock(ctx: DoctorContext) -> Outcome:
    return await _check("the ERP", ctx.settings.erp_base_url, "erp.login")
