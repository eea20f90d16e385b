from __future__ import annotations

import pytest

from workers.signatures import SignatureError, sign, signed_headers, verify

BODY = b'{"event":"opportunity.closed_won"}'


def test_a_signed_delivery_verifies() -> None:
    headers = signed_headers("s3cret", BODY, timestamp=1_700_000_000)
    verify(
        "s3cret",
        headers["X-Syncline-Timestamp"],
        headers["X-Syncline-Signature"],
        BODY,
        tolerance_seconds=300,
        now=1_700_000_100,
    )


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "now", "reason"),
    [
        ("1700000000", sign("other", 1_700_000_000, BODY), BODY, 1_700_000_000, "does not match"),
        (
            "1700000000",
            sign("s3cret", 1_700_000_000, BODY),
            BODY + b" ",
            1_700_000_000,
            "does not match",
        ),
        # the captured signature replayed under a new timestamp
        ("1700000100", sign("s3cret", 1_700_000_000, BODY), BODY, 1_700_000_100, "does not match"),
        ("1700000000", sign("s3cret", 1_700_000_000, BODY), BODY, 1_700_000_301, "window"),
        ("1700000000", sign("s3cret", 1_700_000_000, BODY), BODY, 1_699_999_699, "window"),
        ("soon", "sha256=00", BODY, 1_700_000_000, "unix seconds"),
        (None, "sha256=00", BODY, 1_700_000_000, "missing"),
    ],
)
def test_bad_signatures_are_refused_with_a_reason(
    timestamp: str | None, signature: str, body: bytes, now: float, reason: str
) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify("s3cret", timestamp, signature, body, tolerance_seconds=300, now=now)


def test_during_a_rotation_either_secret_verifies_and_no_other() -> None:
    rotating = ["new-secret", "old-secret"]
    for secret in rotating:
        headers = signed_headers(secret, BODY, timestamp=1_700_000_000)
        verify(
            rotating,
            headers["X-Syncline-Timestamp"],
            headers["X-Syncline-Signature"],
            BODY,
            tolerance_seconds=300,
            now=1_700_000_000,
        )
    stranger = signed_headers("third-secret", BODY, timestamp=1_700_000_000)
    with pytest.raises(SignatureError, match="does not match"):
        verify(
            rotating,
            stranger["X-Syncline-Timestamp"],
            stranger["X-Syncline-Signature"],
            BODY,
            tolerance_seconds=300,
            now=1_700_000_000,
        )


GOOD = sign("s3cret", 1_700_000_000, BODY)


def _digits(zero: int) -> str:
    """1700000000 in another script's digits, ``zero`` being its digit zero."""
    return "".join(chr(zero + int(digit)) for digit in "1700000000")


@pytest.mark.parametrize(
    ("timestamp", "signature", "reason"),
    [
        ("1700000000", "sha256=" + "é" * 64, "X-Syncline-Signature must be ASCII"),
        ("1700000000", GOOD + "\u2028", "X-Syncline-Signature must be ASCII"),
        ("1700000000", GOOD + " " * 600, "X-Syncline-Signature is longer than 512 bytes"),
        # Digits int() reads but no sender writes: Arabic-Indic, full-width, and an ASCII
        # number wrapped in a no-break space, which int() strips.
        (_digits(0x0660), GOOD, "X-Syncline-Timestamp must be unix seconds in ASCII digits"),
        (_digits(0xFF10), GOOD, "X-Syncline-Timestamp must be unix seconds in ASCII digits"),
        ("\xa01700000000", GOOD, "X-Syncline-Timestamp must be unix seconds in ASCII digits"),
    ],
)
def test_headers_not_ascii_or_oversized_are_refused_not_crashed_on(
    timestamp: str, signature: str, reason: str
) -> None:
    """Comparing a non-ASCII ``str`` with ``hmac.compare_digest`` raises TypeError: each
    of these must be a SignatureError with a reason instead."""
    with pytest.raises(SignatureError, match=reason):
        verify("s3cret", timestamp, signature, BODY, tolerance_seconds=300, now=1_700_000_000)


def test_a_signature_of_exactly_512_bytes_is_only_compared() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify("s3cret", "1700000000", "x" * 512, BODY, tolerance_seconds=300, now=1_700_000_000)
