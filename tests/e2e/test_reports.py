"""Deals with mixed SKUs closed through the real stack: the reports equal the ERP."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_faults")]

# Every line is 2 x 1,250.50 = 2,501.00 (tests/deals.open_deal).
DEALS = {
    "annual licence + onboarding": (["SL-PLATFORM-ANNUAL", "SL-ONBOARDING"], "2501.00"),
    "monthly licence + API pack": (["SL-PLATFORM-MONTHLY", "SL-API-CALLS-1M"], "30012.00"),
    "pro seats + training day": (["SL-SEAT-PRO", "SL-TRAINING-DAY"], "2501.00"),
}


def _window() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
    }


async def _report(stack: Stack, metric: str) -> dict[str, Any]:
    params = {**_window(), "group_by": "customer"}
    answer = await stack.api.get(f"/api/reports/{metric}", params=params)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_bookings_equal_erp_orders_and_arr_counts_only_recurring_lines(
    stack: Stack,
) -> None:
    customers: dict[str, tuple[Decimal, Decimal]] = {}
    for name, (skus, arr) in DEALS.items():
        opportunity_id = await stack.open_deal(skus, name=name)
        await stack.close_won(opportunity_id)
        deal = await stack.wait_for_status(opportunity_id, "order_accepted")
        [order] = await stack.erp_orders_for(opportunity_id)
        accepted = next(e for e in deal["events"] if e["event_type"] == "order.accepted")
        customers[accepted["payload"]["erp_customer_id"]] = (order.total, Decimal(arr))

    bookings = await _report(stack, "bookings")
    booked = {row["customer"]: Decimal(row["amount"]) for row in bookings["rows"]}
    assert {c: booked.get(c) for c in customers} == {c: t for c, (t, _) in customers.items()}
    assert {c: t for c, (t, _) in customers.items()} == {c: Decimal("5002.00") for c in customers}

    # The CLI asks the same API: its CSV says the same, to the cent.
    window = _window()
    cli = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.cli",
        "report",
        "bookings",
        "--from",
        window["from"],
        "--to",
        window["to"],
        "--group-by",
        "customer",
        "--csv",
        "-",
        "--env-file",
        str(stack.env_file),
        stdout=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("SYNCLINE_")},
    )
    out, _ = await cli.communicate()
    assert cli.returncode == 0
    from_cli = {
        r["customer"]: Decimal(r["amount"]) for r in csv.DictReader(io.StringIO(out.decode()))
    }
    assert {c: from_cli[c] for c in customers} == {c: booked[c] for c in customers}

    arr = await _report(stack, "arr")
    counted = {row["customer"]: Decimal(row["amount"]) for row in arr["rows"]}
    if stack.erp.kind == "netsuite":
        # The ERP's items say which lines recur: one-time and usage lines are left out,
        # the monthly licence is annualised.
        assert {c: counted.get(c) for c in customers} == {c: a for c, (_, a) in customers.items()}
    else:
        # Tryton's products do not say how they earn revenue: nothing is counted as ARR,
        # and the lines show as unclassified rather than vanish.
        assert not set(customers) & set(counted)
        assert Decimal(arr["unclassified"][0]["amount"]) >= 3 * Decimal("5002.00")
