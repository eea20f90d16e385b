"""The connected app's certificate and the JWT bearer grant checked against it.

An admin uploads the certificate whose private key signs the integration's assertions
(``POST /admin/connected-app/certificate``, as in Setup: "Use digital signatures").
A token request with ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` is then
checked as Salesforce checks it, in this order, and refused with OAuth's error shape:

* a malformed JWT, any algorithm but RS256, or a signature the certificate does not
  verify: ``invalid_grant`` "invalid assertion";
* ``iss`` not the connected app's consumer key: ``invalid_client_id``;
* ``aud`` not the login URL (``https://login.salesforce.com``, ``https://test...``) nor
  the org's own URL: ``invalid_grant`` "audience is invalid";
* ``exp`` missing or passed: ``invalid_grant`` "expired authorization code";
* ``sub`` not a user of the org allowed to use the app: ``invalid_grant`` "user hasn't
  approved this consumer".

The descriptions are those Salesforce is reported to answer; which one it gives for an
unknown username (rather than an unapproved one) is not documented.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.salesforce.store import Database

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
_CERTIFICATE_KEY = "connected_app_certificate"


def _seconds(value: Any) -> float | None:
    """``exp`` as epoch seconds. A string of digits counts too: simple_salesforce sends
    one, and its JWT login works against Salesforce, so Salesforce accepts it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return float(value)
    return None


class OAuthRefusal(Exception):
    """A token request refused with ``{"error", "error_description"}`` and HTTP 400."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class CertificateRefused(ValueError):
    """The uploaded text is not a certificate a JWT bearer grant can use."""


@dataclass(frozen=True)
class Certificate:
    pem: str
    public_key: rsa.RSAPublicKey
    sha256: str
    not_after: str

    def describe(self) -> dict[str, str]:
        return {"sha256Fingerprint": self.sha256, "notAfter": self.not_after}


def parse_certificate(pem: str) -> Certificate:
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise CertificateRefused("not a PEM X.509 certificate") from None
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CertificateRefused("the certificate's key must be RSA: assertions are RS256")
    der = certificate.public_bytes(serialization.Encoding.DER)
    return Certificate(
        pem=pem,
        public_key=key,
        sha256=hashlib.sha256(der).hexdigest(),
        not_after=certificate.not_valid_after_utc.isoformat(),
    )


class ConnectedApp:
    """The one connected app of the sandbox org: its consumer key, the users allowed to
    use it, the audiences it accepts and, once uploaded, its certificate (kept in the
    org's file, so it survives a restart like the rest of the org's setup)."""

    def __init__(
        self,
        db: Database,
        consumer_key: str,
        usernames: tuple[str, ...],
        own_url: str,
    ) -> None:
        self._db = db
        self.consumer_key = consumer_key
        self._usernames = frozenset(name.lower() for name in usernames)
        self._audiences = frozenset((*LOGIN_AUDIENCES, own_url.rstrip("/")))
        self._certificate = self._load()

    def _load(self) -> Certificate | None:
        with self._db.read() as tx:
            row = tx.conn.execute(
                "SELECT value FROM meta WHERE key = ?", (_CERTIFICATE_KEY,)
            ).fetchone()
        return None if row is None else parse_certificate(str(row[0]))

    @property
    def certificate(self) -> Certificate | None:
        return self._certificate

    def upload_certificate(self, pem: str) -> Certificate:
        """Replace the certificate (blocking: call from a worker thread)."""
        certificate = parse_certificate(pem)
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_CERTIFICATE_KEY, certificate.pem),
            )
        self._certificate = certificate
        return certificate

    def verify(self, assertion: str, now: float) -> str:
        """The username the assertion logs in, or ``OAuthRefusal``."""
        claims = self._verified_claims(assertion)
        if claims.get("iss") != self.consumer_key:
            raise OAuthRefusal("invalid_client_id", "client identifier invalid")
        audiences = claims.get("aud")
        listed = audiences if isinstance(audiences, list) else [audiences]
        if not any(isinstance(a, str) and a.rstrip("/") in self._audiences for a in listed):
            raise OAuthRefusal("invalid_grant", "audience is invalid")
        expires = _seconds(claims.get("exp"))
        if expires is None or expires <= now:
            raise OAuthRefusal("invalid_grant", "expired authorization code")
        username = claims.get("sub")
        if not isinstance(username, str) or username.lower() not in self._usernames:
            raise OAuthRefusal("invalid_grant", "user hasn't approved this consumer")
        return username

    def _verified_claims(self, assertion: str) -> dict[str, Any]:
        invalid = OAuthRefusal("invalid_grant", "invalid assertion")
        if self._certificate is None:
            raise invalid  # nothing to verify a signature with: no digital signatures set up
        try:
            if jwt.get_unverified_header(assertion).get("alg") != "RS256":
                raise invalid  # never "none", never HS256 keyed with the public key
            claims: dict[str, Any] = jwt.decode(
                assertion,
                self._certificate.public_key,
                algorithms=["RS256"],
                # The claims are checked one by one above, for Salesforce's own answers.
                options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            raise invalid from None
        return claims
