"""Every saved history replays against today's workflow code without nondeterminism."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from reconciliation.workflow import Reconcile
from tests.workflows.histories import HISTORY_DIR, load_history
from workflows.deal.workflow import CloseWonToOrder
from workflows.feed.workflow import ErpChangeFeed
from workflows.mirror.workflow import ErpMirror
from workflows.renewal.workflow import Renewal
from workflows.stream.workflow import CrmChangeStream

HISTORIES = sorted(HISTORY_DIR.glob("*.json"))


def test_there_are_saved_histories_to_replay() -> None:
    assert {p.stem for p in HISTORIES} >= {
        # the deal: placed and followed until paid, or until reconciliation asks it after
        # BILLING_FOLLOW when nothing comes
        "close_won_billed_and_paid",
        "close_won_followed_then_asked_to_end",
        "close_won_accepted_then_unbilled",
        "close_won_parked_retried_then_unbilled",
        # undone or changed after the order; parked, then lost
        "close_won_lost_then_cancelled",
        "close_won_reversal_after_invoicing",
        "close_won_parked_then_lost",
        # parked on an amendment the ERP refused, then the ERP cancels the order: woken
        "close_won_parked_on_an_amendment_then_cancelled_in_the_erp",
        # bad input from the CRM: a negative line parks the deal until it is fixed
        "close_won_negative_line_parked_then_fixed",
        # a later run of the same deal: won again, paid, and an error no connector explains
        "close_won_won_again_after_its_order_was_cancelled",
        "close_won_second_run_paid",
        "close_won_unexpected_error_parked_then_retried",
        # an order the ERP held for approval: approved and booked; rejected, parked, then
        # lost in the CRM; lost while held (the held order cancelled); then shipped in two
        "close_won_held_then_approved",
        "close_won_held_rejected_then_lost",
        "close_won_held_rejected_reopened_then_approved",
        "close_won_held_then_lost",
        "close_won_fulfilled_in_two",
        # after the order: every kind of ERP change, mirrors, renewals
        "erp_change_feed_polls",
        "erp_change_feed_all_kinds",
        "erp_mirror_conflict_then_retried",
        "renewal_amended_then_opened",
        "renewal_cancelled",
        # reconciliation: differences repaired; differences left to a person
        "reconcile_found_and_repaired",
        "reconcile_left_to_a_person",
        # long-running runs park instead of failing: a kind of ERP change the ERP
        # refused, a revoked CRM credential; the operator's retry resumes each
        "erp_change_feed_kind_parked_then_retried",
        "erp_change_feed_kind_rechecked_by_itself",
        "erp_mirror_auth_failed_then_retried",
        "renewal_auth_failed_then_retried",
        # the CRM change stream: deals from change events, its own writes ignored, its
        # position carried across continue-as-new; a gap past retention reconciled
        "crm_stream_reads_deals_and_continues",
        "crm_stream_gap_reconciled_then_retried",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_saved_history_replays(path: Path) -> None:
    replayer = Replayer(
        workflows=[CloseWonToOrder, ErpChangeFeed, ErpMirror, Renewal, Reconcile, CrmChangeStream],
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(load_history(path))
    assert result.replay_failure is None
