"""The generic fault injection (``sandbox.faults``) in Salesforce's shape.

What differs from the generic injector:

* scope: only the REST surface under ``/services/`` is faulted. ``/admin`` never is
  (a forever-rule could not be removed otherwise), and the OAuth2 token endpoint
  (``/services/oauth2/...``) only by a rule whose ``path_prefix`` points into it, so a
  catch-all rule breaks data calls, not the client's ability to log in;
* bodies: Salesforce's ``[{"message", "errorCode"}]``. A rule without ``code`` gets
  Salesforce's code for its status (503 ``SERVER_UNAVAILABLE``, 500
  ``UNKNOWN_EXCEPTION``, ...);
* rate limits: Salesforce refuses an org over its API request limit with
  ``403 REQUEST_LIMIT_EXCEEDED`` and no ``Retry-After``, not with a 429, so that is what
  ``mode=rate_limit`` answers here (``retry_after`` is ignored). The connector maps it
  to ``RateLimitedError`` (``connectors/salesforce/errors.py``).

Rules come from ``SYNCLINE_SANDBOX_CRM_FAULTS`` (a JSON list) at start, or the app's
config, and are replaced at run time with ``POST /admin/faults``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sandbox.faults import FaultInjector, FaultMode, FaultRule

# Per sandbox, so rules meant for the ERP never fire on the CRM sandbox.
FAULTS_ENV_VAR = "SYNCLINE_SANDBOX_CRM_FAULTS"

FAULTED_PREFIX = "/services/"
TOKEN_PREFIX = "/services/oauth2"

RATE_LIMIT_STATUS = 403
RATE_LIMIT_CODE = "REQUEST_LIMIT_EXCEEDED"
RATE_LIMIT_MESSAGE = "TotalRequests Limit exceeded."

_DEFAULT_CODES = {
    401: "INVALID_SESSION_ID",
    403: "INSUFFICIENT_ACCESS_OR_READONLY",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    503: "SERVER_UNAVAILABLE",
}
_DEFAULT_MESSAGES = {
    401: "Session expired or invalid",
    403: "insufficient access rights on object id",
    404: "The requested resource does not exist",
    405: "HTTP Method not allowed",
    503: "Server temporarily unavailable. Please try again later.",
}
_UNKNOWN_CODE = "UNKNOWN_EXCEPTION"
_UNKNOWN_MESSAGE = "An unexpected error occurred. Please check the logs."


def salesforce_fault_body(status: int, code: str, detail: str) -> Any:
    return [{"message": detail, "errorCode": code}]


def _targets_token_endpoint(rule: FaultRule) -> bool:
    return rule.path_prefix is not None and rule.path_prefix.startswith(TOKEN_PREFIX)


def _salesforce_shaped(rule: FaultRule) -> FaultRule:
    """The rule as this sandbox answers it: an ``error`` with Salesforce's code."""
    if rule.mode is FaultMode.RATE_LIMIT:
        return rule.model_copy(
            update={
                "mode": FaultMode.ERROR,
                "status": RATE_LIMIT_STATUS,
                "code": rule.code or RATE_LIMIT_CODE,
                "detail": rule.detail or RATE_LIMIT_MESSAGE,
            }
        )
    if rule.mode is FaultMode.ERROR:
        return rule.model_copy(
            update={
                "code": rule.code or _DEFAULT_CODES.get(rule.status, _UNKNOWN_CODE),
                "detail": rule.detail or _DEFAULT_MESSAGES.get(rule.status, _UNKNOWN_MESSAGE),
            }
        )
    return rule


class SalesforceFaultInjector(FaultInjector):
    """``FaultInjector`` scoped to ``/services/`` and answering like Salesforce.

    ``rules()`` and the admin routes show the rules as they were set; only what
    ``take`` hands the middleware is reshaped (``shape``).
    """

    def __init__(self, rules: Sequence[FaultRule] = ()) -> None:
        super().__init__(rules, error_body=salesforce_fault_body, exempt_prefixes=("/admin",))

    def applies(self, rule: FaultRule, method: str, path: str) -> bool:
        if not path.startswith(FAULTED_PREFIX) or not rule.matches(method, path):
            return False
        return not path.startswith(TOKEN_PREFIX) or _targets_token_endpoint(rule)

    def shape(self, rule: FaultRule) -> FaultRule:
        return _salesforce_shaped(rule)
