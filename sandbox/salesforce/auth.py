"""OAuth2 token issue and session checks.

Tokens are stored as SHA-256 hashes, so the database never holds a usable session,
and they survive restarts, like a Salesforce session does. Valid tokens are cached in
memory; only an unknown token costs a database read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time

from sandbox.salesforce.store import Database


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    def __init__(self, db: Database, client_id: str, client_secret: str, org_id: str) -> None:
        self._db = db
        self._client_id = client_id
        self._client_secret = client_secret
        self._org_id = org_id
        self._valid: set[str] = set()
        self._lock = threading.Lock()

    def client_ok(self, client_id: str, client_secret: str) -> bool:
        # compare_digest on both, so timing reveals nothing about which one was wrong.
        id_ok = hmac.compare_digest(client_id.encode(), self._client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), self._client_secret.encode())
        return id_ok and secret_ok

    def issue(self) -> tuple[str, str]:
        """A new access token and its ``issued_at`` (epoch milliseconds, as a string)."""
        token = f"{self._org_id[:15]}!{secrets.token_urlsafe(48)}"
        issued = time.time()
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO tokens (token_hash, client_id, issued_at) VALUES (?, ?, ?)",
                (_hash(token), self._client_id, issued),
            )
        with self._lock:
            self._valid.add(_hash(token))
        return token, str(int(issued * 1000))

    def signature(self, identity_url: str, issued_at: str) -> str:
        """Salesforce's token signature: HMAC-SHA256 of id + issued_at with the secret."""
        digest = hmac.new(
            self._client_secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256
        ).digest()
        return base64.b64encode(digest).decode()

    def is_cached(self, token: str) -> bool:
        with self._lock:
            return _hash(token) in self._valid

    def lookup(self, token: str) -> bool:
        """Check the database (blocking: call from a worker thread)."""
        token_hash = _hash(token)
        with self._db.read() as tx:
            row = tx.conn.execute(
                "SELECT 1 FROM tokens WHERE token_hash = ?", (token_hash,)
            ).fetchone()
        if row is not None:
            with self._lock:
                self._valid.add(token_hash)
        return row is not None

    def revoke_all(self) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM tokens")
        with self._lock:
            self._valid.clear()
