"""The client-credentials assertion (NetSuite's "request token") as NetSuite checks it.

Header ``typ`` JWT, ``alg`` PS256/384/512 or ES256/384/512, ``kid`` a mapped
certificate; claims ``iss`` the mapped client id, ``scope`` (a comma-separated
string or a JSON array), ``aud`` the token endpoint, ``iat`` and ``exp`` no more than
60 minutes apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt

from sandbox.netsuite.certificates import load_public_key
from sandbox.netsuite.credentials import CertificateMapping

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_SECONDS = 3600
# How far in the future ``iat`` may be: undocumented; the TBA timestamp window.
CLOCK_SKEW = 300
SCOPES = frozenset({"restlets", "rest_webservices", "suite_analytics"})
ACCEPTED_ALGORITHMS = frozenset({"PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})

# Login Audit Trail details for a refused assertion. NetSuite documents such a list
# for its other flows (InvalidSignature, InvalidScope...), not for this one: the
# names are the sandbox's, chosen to read like those.
MALFORMED = "InvalidAssertion"
UNSUPPORTED_ALGORITHM = "UnsupportedAlgorithm"
UNKNOWN_CERTIFICATE = "UnknownCertificate"
CERTIFICATE_REVOKED = "CertificateRevoked"
CERTIFICATE_EXPIRED = "CertificateExpired"
INVALID_SIGNATURE = "InvalidSignature"
INVALID_ISSUER = "InvalidIssuer"
INVALID_AUDIENCE = "InvalidAudience"
INVALID_LIFETIME = "InvalidExpiration"
EXPIRED = "AssertionExpired"
NOT_YET_VALID = "InvalidIssuedAt"
INVALID_SCOPE = "InvalidScope"


class AssertionRefused(Exception):
    def __init__(self, reason: str, error: str = "invalid_grant") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


def scopes_of(value: Any) -> set[str]:
    """``"restlets, rest_webservices"`` or ``["restlets", "rest_webservices"]``."""
    if isinstance(value, str):
        return {part.strip() for part in value.split(",") if part.strip()}
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return {part.strip() for part in value}
    raise AssertionRefused(INVALID_SCOPE, "invalid_scope")


def _audiences(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def verify_assertion(
    assertion: str,
    *,
    token_url: str,
    certificate: Callable[[str], CertificateMapping | None],
    now: float,
) -> CertificateMapping:
    """The mapping whose key signed a valid assertion, or ``AssertionRefused``."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise AssertionRefused(MALFORMED) from None
    if str(header.get("typ", "")).upper() != "JWT":
        raise AssertionRefused(MALFORMED)
    algorithm = header.get("alg")
    # RS256 (PKCS#1 v1.5) was accepted until 2025; "none" and HMAC never were.
    if algorithm not in ACCEPTED_ALGORITHMS:
        raise AssertionRefused(UNSUPPORTED_ALGORITHM)
    kid = header.get("kid")
    mapping = certificate(kid) if isinstance(kid, str) and kid else None
    if mapping is None:
        raise AssertionRefused(UNKNOWN_CERTIFICATE)
    if mapping.revoked:
        raise AssertionRefused(CERTIFICATE_REVOKED)
    if mapping.valid_until <= now:
        raise AssertionRefused(CERTIFICATE_EXPIRED)
    if algorithm not in mapping.algorithms:  # ES384 with a P-256 key, PS256 with EC...
        raise AssertionRefused(UNSUPPORTED_ALGORITHM)
    try:
        # Only the signature here; each claim is checked below against the sandbox's
        # clock (replaceable in tests), with its own reason.
        claims = jwt.decode(
            assertion,
            load_public_key(mapping.public_key_pem),
            algorithms=[algorithm],
            options={
                "verify_signature": True,
                "verify_aud": False,
                "verify_iss": False,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError:
        raise AssertionRefused(INVALID_SIGNATURE) from None
    if claims.get("iss") != mapping.client_id:
        raise AssertionRefused(INVALID_ISSUER)
    if token_url not in _audiences(claims.get("aud")):
        raise AssertionRefused(INVALID_AUDIENCE)
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        raise AssertionRefused(MALFORMED)
    # "less than 60 minutes greater than iat", says the text; Oracle's own example
    # request has exactly 3600 s, so exactly 60 minutes passes.
    if not 0 < expires - issued <= MAX_ASSERTION_SECONDS:
        raise AssertionRefused(INVALID_LIFETIME)
    if expires <= now:
        raise AssertionRefused(EXPIRED)
    if issued > now + CLOCK_SKEW:
        raise AssertionRefused(NOT_YET_VALID)
    scopes = scopes_of(claims.get("scope"))
    if not scopes or not scopes <= SCOPES or "rest_webservices" not in scopes:
        # The sandbox serves REST web services only: a token without that scope could
        # do nothing here.
        raise AssertionRefused(INVALID_SCOPE, "invalid_scope")
    return mapping
