"""Why a run waits, in words a revenue-operations person acts on.

One entry per reason a deal, mirror or renewal parks (``ExceptionReason``) and per
class of difference reconciliation leaves to a person (``DriftClass``, the reason of a
``recon:<domain>:<class>:<key>`` exception). Keyed by the enums, so a new reason without
words fails the console's tests rather than reaching an operator as a bare code.
"""

from __future__ import annotations

from pydantic import BaseModel

from models.deal import ExceptionReason
from models.reconciliation import DriftClass


class Explanation(BaseModel):
    title: str
    """A few words for the queue's list."""
    what_happened: str
    what_to_do: str


PARKED: dict[ExceptionReason, Explanation] = {
    ExceptionReason.UNKNOWN_SKU: Explanation(
        title="Product missing from the ERP catalog",
        what_happened="The deal sells a product code the ERP has no active item for, so "
        "no order was placed.",
        what_to_do="Ask finance to add (or reactivate) the item in the ERP, or correct the "
        "product on the opportunity, then press Retry.",
    ),
    ExceptionReason.ERP_REJECTED: Explanation(
        title="The ERP refused the order",
        what_happened="The ERP checked the order and rejected it; the message says which "
        "field it objected to.",
        what_to_do="Fix the data the ERP names (customer, currency, item, date), then press Retry.",
    ),
    ExceptionReason.CRM_REJECTED: Explanation(
        title="The CRM refused an update",
        what_happened="Syncline could not write to the CRM record (a validation rule, a "
        "locked record or a missing field).",
        what_to_do="Fix the record or the rule in the CRM that blocks the write, then press Retry.",
    ),
    ExceptionReason.INVALID_OPPORTUNITY: Explanation(
        title="The opportunity is incomplete",
        what_happened="The closed-won opportunity lacks something an order needs, such as "
        "an account, line items or a currency.",
        what_to_do="Complete the opportunity in the CRM, then press Retry.",
    ),
    ExceptionReason.AUTH_FAILED: Explanation(
        title="Syncline could not sign in",
        what_happened="The CRM or ERP refused Syncline's credentials, so nothing was changed.",
        what_to_do="Ask an administrator to renew the integration user's credentials, "
        "then press Retry.",
    ),
    ExceptionReason.REVERSAL_AFTER_INVOICING: Explanation(
        title="Deal changed after it was invoiced",
        what_happened="The opportunity was lost, reopened or amended after the ERP had "
        "invoiced its order. Nothing was undone automatically.",
        what_to_do="Decide with finance: issue a credit note or amend the order in the ERP "
        "(or restore the opportunity), then press Retry.",
    ),
    ExceptionReason.APPROVAL_REJECTED: Explanation(
        title="The ERP rejected the order at approval",
        what_happened="The ERP held the order for approval (or credit) and its approver "
        "rejected it; the approver's reason is in the message. Nothing was booked.",
        what_to_do="Sales decides: mark the opportunity lost in the CRM (the deal ends "
        "cancelled), or have finance reopen the order for approval in the ERP.",
    ),
    ExceptionReason.DUPLICATE_CUSTOMER: Explanation(
        title="Two ERP customers match one account",
        what_happened="More than one ERP customer claims the same CRM account, and Syncline "
        "will not guess which one is right.",
        what_to_do="Merge the duplicate customers in the ERP (or fix the account's ERP "
        "customer id), then press Retry.",
    ),
    ExceptionReason.OWNERSHIP_CONFLICT: Explanation(
        title="CRM edit of ERP-owned data",
        what_happened="Someone changed legal customer data (name, tax id or billing "
        "address) in the CRM, where the ERP is the system of record. The edit was not sent "
        "to the ERP.",
        what_to_do="If the CRM is right, make the change in the ERP. Retry writes the ERP's "
        "values back onto the account.",
    ),
    ExceptionReason.NO_CRM_ACCOUNT: Explanation(
        title="Renewal has no CRM account",
        what_happened="A subscription is due for renewal but its ERP customer has no "
        "account in the CRM to open the renewal opportunity on.",
        what_to_do="Link the customer to a CRM account (or create one), then press Retry.",
    ),
    ExceptionReason.CRM_EVENTS_LOST: Explanation(
        title="CRM changes missed while Syncline was away",
        what_happened="Syncline's change stream was away longer than the CRM keeps its "
        "change events (72 hours), so some changes can no longer be read. It started a "
        "reconciliation of that gap and went on reading from the oldest event kept.",
        what_to_do="Open the reconciliation named below and settle what it could not "
        "repair, then press Retry to close this.",
    ),
    ExceptionReason.UNEXPECTED_ERROR: Explanation(
        title="A step kept failing unexpectedly",
        what_happened="A step failed the same way several times for a reason Syncline does "
        "not recognise (for example an answer from the CRM or ERP in a shape it does not "
        "expect), so it stopped trying rather than retry forever.",
        what_to_do="Pass the details below to whoever supports Syncline; once the cause is "
        "fixed, press Retry.",
    ),
}

# Automatic remedies (``REMEDIES``) have run by the time a difference is an exception:
# what is left is the person's part.
_DRIFT_WORDS: dict[DriftClass, tuple[str, str, str]] = {
    DriftClass.IN_FLIGHT: (
        "Still syncing",
        "The change is younger than the sync deadline; it is expected to settle on its own.",
        "Nothing yet: the next reconciliation looks at it again.",
    ),
    DriftClass.MISSING_ORDER: (
        "Won deal without an ERP order",
        "The CRM shows the deal won for longer than the sync deadline, but the ERP holds no "
        "order for it.",
        "Open the deal's timeline to see where it stopped, fix that, then press Retry.",
    ),
    DriftClass.ORPHAN_ERP_ORDER: (
        "ERP order for a deal that is not won",
        "The ERP has a live order for an opportunity the CRM does not show as won.",
        "Ask finance to cancel the order in the ERP, or mark the deal won again in the CRM, "
        "then press Retry.",
    ),
    DriftClass.DUPLICATE_ORDER: (
        "Duplicate ERP orders",
        "The ERP holds more than one live order for the same opportunity.",
        "Ask finance to cancel the extra order in the ERP, then press Retry.",
    ),
    DriftClass.AMOUNT_MISMATCH: (
        "Amounts disagree",
        "The CRM, the ERP or the revenue ledger show different amounts for the same deal.",
        "Decide which amount is right: amend the ERP order or correct the opportunity, then "
        "press Retry.",
    ),
    DriftClass.CURRENCY_MISMATCH: (
        "Currencies disagree",
        "The order was entered in a different currency from the deal's.",
        "Ask finance to re-enter the order in the deal's currency, then press Retry.",
    ),
    DriftClass.STATUS_DRIFT: (
        "Statuses disagree",
        "One system shows the record cancelled or changed while another still shows it live.",
        "Bring the record to the same status in both systems (the ERP owns orders and "
        "invoices), then press Retry.",
    ),
    DriftClass.DUPLICATE_CUSTOMER: (
        "Duplicate ERP customers",
        "Two ERP customers stand for the same CRM account.",
        "Merge the duplicate customers in the ERP, then press Retry.",
    ),
    DriftClass.MISSING_LEDGER_EVENT: (
        "Fact missing from the revenue ledger",
        "The ERP holds an order, invoice or payment that reporting has not recorded.",
        "Press Retry: Syncline records it from the ERP's copy.",
    ),
    DriftClass.OWNERSHIP_CONFLICT: (
        "CRM account differs from the ERP customer",
        "The account's legal details in the CRM differ from the ERP, which owns them.",
        "If the CRM is right, make the change in the ERP; otherwise retry the customer "
        "mirror's exception, which writes the ERP's values back. Then press Retry here.",
    ),
    DriftClass.STALE_MIRROR: (
        "Opportunity's billing amounts are out of date",
        "The invoiced, paid or balance amount on the opportunity differs from what its "
        "order's invoices add up to.",
        "Press Retry: Syncline writes the amounts from the invoices back onto the opportunity.",
    ),
}

FOUND_BY_RECONCILIATION: dict[DriftClass, Explanation] = {
    drift: Explanation(
        title=title, what_happened=f"Reconciliation found this: {happened}", what_to_do=to_do
    )
    for drift, (title, happened, to_do) in _DRIFT_WORDS.items()
}


class Explanations(BaseModel):
    """Keyed by the exception's reason code. The two sets share some codes
    (``duplicate_customer``), so the exception's process picks the set."""

    parked: dict[str, Explanation]
    """For deals, mirrors and renewals waiting at a step."""
    reconciliation: dict[str, Explanation]
    """For differences a reconciliation run left open."""


def all_explanations() -> Explanations:
    return Explanations(
        parked={str(reason): words for reason, words in PARKED.items()},
        reconciliation={str(drift): words for drift, words in FOUND_BY_RECONCILIATION.items()},
    )
