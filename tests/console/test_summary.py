"""The console's figures from the store, on both database backends, and the words it
shows for every reason a run can wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.deal import ExceptionReason
from models.reconciliation import DriftClass
from models.tables import DeliveryStatus, ExceptionRow, WebhookDelivery
from store import Store
from workers.console.explanations import FOUND_BY_RECONCILIATION, PARKED, all_explanations
from workers.console.summary import AGE_BANDS, _backlog, _deliveries_per_hour

NOW = datetime(2026, 3, 9, 14, 35, tzinfo=UTC)


def test_every_reason_a_run_can_wait_for_has_plain_words() -> None:
    assert set(PARKED) == set(ExceptionReason)
    assert set(FOUND_BY_RECONCILIATION) == set(DriftClass)
    for words in [*PARKED.values(), *FOUND_BY_RECONCILIATION.values()]:
        assert words.title and words.what_happened and words.what_to_do
        # no raw codes in the text an operator reads
        assert "_" not in words.title + words.what_happened


def test_shared_codes_keep_their_own_words_per_process() -> None:
    explanations = all_explanations()
    parked = explanations.parked["duplicate_customer"]
    found = explanations.reconciliation["duplicate_customer"]
    assert parked.title != found.title
    assert found.what_happened.startswith("Reconciliation found this")


def _delivery(at: datetime, status: DeliveryStatus) -> WebhookDelivery:
    return WebhookDelivery(
        source="salesforce", received_at=at, raw_body=b"{}", status=status, correlation_id="c"
    )


async def test_deliveries_are_counted_per_utc_hour_and_status(store: Store) -> None:
    for minutes, status in [
        (-5, DeliveryStatus.ACCEPTED),  # 14:30
        (-30, DeliveryStatus.ACCEPTED),  # 14:05
        (-40, DeliveryStatus.REJECTED),  # 13:55
        (-3 * 60, DeliveryStatus.IGNORED),  # 11:35
        (-25 * 60, DeliveryStatus.ACCEPTED),  # yesterday, outside the window
    ]:
        await store.record_delivery(_delivery(NOW + timedelta(minutes=minutes), status))

    hours = await _deliveries_per_hour(store, NOW)

    assert len(hours) == 24
    assert hours[-1].hour == datetime(2026, 3, 9, 14, tzinfo=UTC)
    assert hours[0].hour == datetime(2026, 3, 8, 15, tzinfo=UTC)
    by_hour = {h.hour.hour: h.by_status for h in hours if h.by_status}
    assert by_hour == {
        14: {DeliveryStatus.ACCEPTED: 2},
        13: {DeliveryStatus.REJECTED: 1},
        11: {DeliveryStatus.IGNORED: 1},
    }


def _exception(n: int, workflow_id: str, reason: str, age: timedelta) -> ExceptionRow:
    return ExceptionRow(
        id=f"x{n}",
        workflow_id=workflow_id,
        subject_id=f"s{n}",
        reason=reason,
        step="place_order",
        message="m",
        correlation_id="c",
        opened_at=NOW - age,
    )


def test_the_backlog_groups_by_process_and_reason_and_bands_by_age() -> None:
    rows = [
        _exception(1, "close-won:salesforce:1", "unknown_sku", timedelta(minutes=5)),
        _exception(2, "close-won:salesforce:2", "unknown_sku", timedelta(hours=3)),
        _exception(3, "close-won:salesforce:3", "unknown_sku", timedelta(days=9)),
        _exception(4, "erp-mirror:netsuite:customer:7", "duplicate_customer", timedelta(days=2)),
        _exception(5, "reconcile:abc", "duplicate_customer", timedelta(hours=1)),
    ]
    backlog = _backlog(rows, NOW)
    assert [(b.process, b.reason) for b in backlog] == [
        ("deal", "unknown_sku"),
        ("customer_mirror", "duplicate_customer"),
        ("reconciliation", "duplicate_customer"),
    ]
    under_hour, day, week, older = (label for label, _ in AGE_BANDS)
    assert backlog[0].by_age == {under_hour: 1, day: 1, older: 1}
    assert backlog[0].oldest_opened_at == NOW - timedelta(days=9)
    assert backlog[1].by_age == {week: 1}
    assert backlog[2].by_age == {day: 1}  # exactly one hour old is no longer "under 1 hour"
