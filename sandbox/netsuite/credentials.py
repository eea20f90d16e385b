"""What the account's administrator set up, and the access tokens it issued.

* certificate mappings for OAuth 2.0 client credentials (integration = client id,
  certificate id = the JWT's ``kid``, the public key that verifies it);
* token-based authentication: integrations (consumer key and secret) and their access
  tokens (token id and secret);
* the bearer tokens the token endpoint issued, each valid 60 minutes.

All persisted in the sandbox's SQLite, so a restarted sandbox still knows the dev
stack's credentials; read from memory, since one process owns one database.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sandbox.netsuite.certificates import read_certificate
from sandbox.netsuite.store import Store

logger = logging.getLogger(__name__)


class CredentialConflict(ValueError):
    """A registration that contradicts one already made."""


@dataclass(frozen=True)
class CertificateMapping:
    certificate_id: str
    client_id: str
    fingerprint: str
    public_key_pem: str
    algorithms: tuple[str, ...]
    valid_until: float
    revoked: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "certificate_id": self.certificate_id,
            "client_id": self.client_id,
            "algorithms": list(self.algorithms),
            "valid_until": datetime.fromtimestamp(self.valid_until, UTC).isoformat(),
            "revoked": self.revoked,
        }


@dataclass(frozen=True)
class TbaToken:
    token_id: str
    token_secret: str
    consumer_key: str
    consumer_secret: str
    revoked: bool = False

    def public(self) -> dict[str, Any]:
        """What a listing shows: NetSuite shows the secrets once, at creation."""
        return {
            "token_id": self.token_id,
            "consumer_key": self.consumer_key,
            "revoked": self.revoked,
        }


@dataclass(frozen=True)
class AccessToken:
    expires_at: float
    certificate_id: str | None


def _mapping(row: sqlite3.Row) -> CertificateMapping:
    return CertificateMapping(
        certificate_id=row["certificate_id"],
        client_id=row["client_id"],
        fingerprint=row["fingerprint"],
        public_key_pem=row["public_key_pem"],
        algorithms=tuple(str(row["algorithms"]).split(",")),
        valid_until=float(row["valid_until"]),
        revoked=bool(row["revoked"]),
    )


def _tba(row: sqlite3.Row) -> TbaToken:
    return TbaToken(
        token_id=row["token_id"],
        token_secret=row["token_secret"],
        consumer_key=row["consumer_key"],
        consumer_secret=row["consumer_secret"],
        revoked=bool(row["revoked"]),
    )


class Credentials:
    """The account's credentials; ``clock`` is wall time, replaceable in tests."""

    def __init__(self, store: Store, ttl_seconds: int) -> None:
        self._store = store
        self.ttl_seconds = ttl_seconds
        self.clock: Callable[[], float] = time.time

        def load(
            conn: sqlite3.Connection,
        ) -> tuple[list[CertificateMapping], list[TbaToken]]:
            return (
                [_mapping(r) for r in conn.execute("SELECT * FROM oauth2_certificate")],
                [_tba(r) for r in conn.execute("SELECT * FROM tba_token")],
            )

        mappings, tokens = store.write_sync(load)
        self._certificates = {m.certificate_id: m for m in mappings}
        self._tba = {t.token_id: t for t in tokens}
        self._access: dict[str, AccessToken] = {}

    # --- OAuth 2.0 certificate mappings ---------------------------------------------------

    def certificate(self, certificate_id: str) -> CertificateMapping | None:
        return self._certificates.get(certificate_id)

    def certificates(self) -> list[CertificateMapping]:
        return sorted(self._certificates.values(), key=lambda m: m.certificate_id)

    async def map_certificate(self, client_id: str, certificate_pem: str) -> CertificateMapping:
        """Map ``client_id`` to a certificate; the same pair again is the same mapping.

        ``CertificateRefused`` when NetSuite's setup page would refuse the upload.
        """
        read = read_certificate(certificate_pem, datetime.fromtimestamp(self.clock(), UTC))
        for existing in self._certificates.values():
            if existing.client_id == client_id and existing.fingerprint == read.fingerprint:
                return existing
        mapping = CertificateMapping(
            # NetSuite generates the id the administrator copies into the integration.
            certificate_id=secrets.token_urlsafe(32),
            client_id=client_id,
            fingerprint=read.fingerprint,
            public_key_pem=read.public_key_pem,
            algorithms=read.algorithms,
            valid_until=read.valid_until.timestamp(),
        )

        def save(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO oauth2_certificate (certificate_id, client_id, fingerprint, "
                "public_key_pem, algorithms, valid_until) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    mapping.certificate_id,
                    client_id,
                    mapping.fingerprint,
                    mapping.public_key_pem,
                    ",".join(mapping.algorithms),
                    mapping.valid_until,
                ),
            )

        await self._store.write(save)
        self._certificates[mapping.certificate_id] = mapping
        logger.info("mapped certificate %s to client %s", mapping.certificate_id, client_id)
        return mapping

    async def set_certificate_revoked(
        self, certificate_id: str, revoked: bool
    ) -> CertificateMapping | None:
        """Revoke (or restore) a mapping. Revoking also ends the access tokens it bought,
        so the integration is locked out at once rather than within the hour."""
        mapping = self._certificates.get(certificate_id)
        if mapping is None:
            return None
        await self._store.write(
            lambda conn: conn.execute(
                "UPDATE oauth2_certificate SET revoked = ? WHERE certificate_id = ?",
                (int(revoked), certificate_id),
            )
        )
        self._certificates[certificate_id] = mapping = replace(mapping, revoked=revoked)
        if revoked:
            await self.revoke_access_tokens(certificate_id)
        return mapping

    # --- token-based authentication ------------------------------------------------------

    def tba_token(self, token_id: str) -> TbaToken | None:
        return self._tba.get(token_id)

    def tba_tokens(self) -> list[TbaToken]:
        return sorted(self._tba.values(), key=lambda t: t.token_id)

    def consumer_secret(self, consumer_key: str) -> str | None:
        for token in self._tba.values():
            if token.consumer_key == consumer_key:
                return token.consumer_secret
        return None

    async def add_tba_token(
        self,
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        token_id: str | None = None,
        token_secret: str | None = None,
    ) -> TbaToken:
        """An access token for an integration: missing values are generated, as NetSuite
        generates them (64 hex digits each). Registering the same token again is a
        no-op; a known consumer key keeps its secret."""
        consumer_key = consumer_key or secrets.token_hex(32)
        known_secret = self.consumer_secret(consumer_key)
        if known_secret is not None and consumer_secret not in (None, known_secret):
            raise CredentialConflict("this consumer key has another consumer secret")
        token = TbaToken(
            token_id=token_id or secrets.token_hex(32),
            token_secret=token_secret or secrets.token_hex(32),
            consumer_key=consumer_key,
            consumer_secret=known_secret or consumer_secret or secrets.token_hex(32),
        )
        existing = self._tba.get(token.token_id)
        if existing is not None:
            if replace(existing, revoked=False) != token:
                raise CredentialConflict("this token id is registered with other values")
            return existing

        def save(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO tba_token (token_id, token_secret, consumer_key, consumer_secret) "
                "VALUES (?, ?, ?, ?)",
                (token.token_id, token.token_secret, token.consumer_key, token.consumer_secret),
            )

        await self._store.write(save)
        self._tba[token.token_id] = token
        logger.info("created TBA token %s for consumer %s", token.token_id, consumer_key)
        return token

    async def set_tba_revoked(self, token_id: str, revoked: bool) -> TbaToken | None:
        token = self._tba.get(token_id)
        if token is None:
            return None
        await self._store.write(
            lambda conn: conn.execute(
                "UPDATE tba_token SET revoked = ? WHERE token_id = ?", (int(revoked), token_id)
            )
        )
        self._tba[token_id] = token = replace(token, revoked=revoked)
        return token

    # --- access tokens (OAuth 2.0) ---------------------------------------------------------

    async def issue(self, client_id: str, certificate_id: str) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        expires_at = now + self.ttl_seconds

        def save(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM token WHERE expires_at < ?", (now,))
            conn.execute(
                "INSERT INTO token (token, client_id, expires_at, certificate_id) "
                "VALUES (?, ?, ?, ?)",
                (token, client_id, expires_at, certificate_id),
            )

        await self._store.write(save)
        self._access[token] = AccessToken(expires_at, certificate_id)
        return token

    async def access_token(self, token: str) -> AccessToken | None:
        """The token if it was issued and not revoked (expired or not)."""
        known = self._access.get(token)
        if known is None:  # issued before a restart, or unknown
            row = await self._store.read(
                lambda conn: conn.execute(
                    "SELECT expires_at, certificate_id FROM token WHERE token = ?", (token,)
                ).fetchone()
            )
            if row is None:
                return None
            known = AccessToken(float(row[0]), row[1])
            self._access[token] = known
        return known

    async def revoke_access_tokens(self, certificate_id: str | None = None) -> int:
        """Every access token, or those a certificate's assertions bought."""

        def revoke(conn: sqlite3.Connection) -> int:
            if certificate_id is None:
                return conn.execute("DELETE FROM token").rowcount
            return conn.execute(
                "DELETE FROM token WHERE certificate_id = ?", (certificate_id,)
            ).rowcount

        count = await self._store.write(revoke)
        if certificate_id is None:
            self._access.clear()
        else:
            self._access = {
                t: a for t, a in self._access.items() if a.certificate_id != certificate_id
            }
        return count
