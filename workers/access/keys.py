"""Personal API keys: ``syncline_<key id>_<secret>``.

The key id (12 hex digits) is public: it finds the row, and lists and the audit trail
name keys by it. The secret is 43 letters and digits from ``secrets`` (256 bits; no
punctuation, so a double-click selects the whole key). The store keeps only SHA-256 of
the whole key.

Why SHA-256 and not a slow hash (scrypt, argon2): slow hashes exist to make guessing
*low-entropy* secrets (passwords people choose) expensive after a database leak. Nobody
chooses these keys; guessing 256 random bits is out of reach at any hashing speed, so a
slow hash would add nothing but ~50 ms of CPU to every API request (and hand anyone
who sends keys a cheap way to load the server). The comparison of the digests is
constant-time all the same.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

PREFIX = "syncline_"
"""Makes a leaked key recognisable to secret scanners and to the API (not a JWT)."""
_ALPHABET = string.ascii_letters + string.digits
_SECRET_LENGTH = 43  # 43 x log2(62) = 256 bits
_KEY = re.compile(r"^syncline_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9]{43})$")


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    key: str
    """The whole key: shown once, to the person it is for, and never stored."""

    @property
    def sha256(self) -> str:
        return digest(self.key)


def new_key() -> IssuedKey:
    key_id = secrets.token_hex(6)
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_LENGTH))
    return IssuedKey(key_id, f"{PREFIX}{key_id}_{secret}")


def key_id_of(offered: str) -> str | None:
    """The key id of something shaped like a personal key, None otherwise."""
    match = _KEY.match(offered)
    return match["key_id"] if match else None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def matches(offered: str, stored_sha256: str) -> bool:
    return hmac.compare_digest(digest(offered), stored_sha256)
