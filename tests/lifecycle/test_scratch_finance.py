import pytest

from tests.lifecycle.machine import Scripted

pytestmark = pytest.mark.e2e


def test_settlement(seq: Scripted) -> None:
    opp = seq.first_deal(
        skus=["SL-SEAT-PRO", "SL-ONBOARDING"], quantity=2, then_settle=True, approval=True
    )
    seq.decide(opp=opp, approve=True)
    seq.settle()
    seq.invoice_part(opp=opp)
    seq.finance(opp=opp, act="invoice")
    seq.pay_invoices(opp=opp)
    seq.credit(opp=opp, standalone=False, keep_open=True)
    seq.credit(opp=opp, standalone=True, keep_open=False)
    seq.refund(opp=opp, in_full=False)
    seq.check()


def test_reject_then_lose(seq: Scripted) -> None:
    opp = seq.first_deal(skus=["SL-SEAT-PRO"], quantity=2, then_settle=True, approval=True)
    opp2 = seq.open_opportunity(skus=["SL-ONBOARDING"], quantity=1)
    seq.crm_stage(opp=opp2, stage="won", then_settle=True)
    seq.decide(opp=opp, approve=False)
    seq.settle()
    seq.crm_stage(opp=opp, stage="lost", then_settle=True)
    seq.decide(opp=opp2, approve=False)
    seq.invoice_part(opp=opp2)
    seq.check()


def test_void(seq: Scripted) -> None:
    opp = seq.first_deal(skus=["SL-SEAT-PRO"], quantity=2, then_settle=True, approval=False)
    seq.finance(opp=opp, act="invoice")
    seq.settle()
    seq.void(opp=opp, which=0)
    seq.settle()
    seq.finance(opp=opp, act="invoice")
    seq.check()
