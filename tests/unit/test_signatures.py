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
