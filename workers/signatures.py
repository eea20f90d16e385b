"""Webhook signatures: HMAC-SHA256 over "<timestamp>." + raw body, within a time window.

Signing the timestamp with the body means a captured request cannot be replayed later
under a fresh timestamp; the window bounds how long a captured one stays valid.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "X-Syncline-Signature"
TIMESTAMP_HEADER = "X-Syncline-Timestamp"
MAX_SIGNATURE_BYTES = 512
"""A real signature header is 71 bytes (``sha256=`` and 64 hex digits); far past that, it
is refused unread rather than hashed and compared."""


class SignatureError(ValueError):
    """Why a delivery's signature was refused. Safe to show the sender."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers a sender adds; used by the sandbox CRM, the demo and the tests."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, body)}


def verify(
    secret: str | Sequence[str],
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    tolerance_seconds: int,
    now: float | None = None,
) -> None:
    """Refuse unless one of the secrets (during a rotation: the new and the old) signed
    this timestamp and body, and the timestamp is within the window."""
    secrets = [secret] if isinstance(secret, str) else [s for s in secret if s]
    if not timestamp_header or not signature_header:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
    # Header values arrive decoded as Latin-1, one character per byte, so any byte can
    # be here. int() would read Arabic-Indic or full-width digits and strip a no-break
    # space, none of which a sender signs; compare_digest raises TypeError on a
    # non-ASCII str, which answered 500 and lost the delivery.
    if not timestamp_header.isascii():
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds in ASCII digits")
    if len(signature_header) > MAX_SIGNATURE_BYTES:
        raise SignatureError(f"{SIGNATURE_HEADER} is longer than {MAX_SIGNATURE_BYTES} bytes")
    if not signature_header.isascii():
        raise SignatureError(f"{SIGNATURE_HEADER} must be ASCII (sha256=<hex digest>)")
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError("timestamp outside the accepted window")
    offered = signature_header.strip().encode("ascii")
    # Every secret is compared, so the time taken says nothing about which one matched.
    matches = [
        hmac.compare_digest(sign(key, timestamp, body).encode("ascii"), offered) for key in secrets
    ]
    if not any(matches):
        raise SignatureError("signature does not match")
