"""OpenID Connect bearer tokens from the company's identity provider.

A token is accepted only when it is signed (RS/PS/ES/EdDSA, never ``none`` and never an
HMAC algorithm, whose "secret" an attacker could take to be the provider's public key)
by a key the provider publishes at its JWKS URL, was issued by the configured issuer
for the configured audience, has not expired, and names a Syncline role in the role
claim. Each refusal says which of these failed, never what the token held.
"""

from __future__ import annotations

import asyncio
from typing import Any

import jwt
from jwt import PyJWKClient

from models.operators import Operator, Role, SignIn
from workers.access.refusal import Refused
from workers.settings import Settings

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LEEWAY_SECONDS = 30
"""Clock skew tolerated between the provider and Syncline on exp, nbf and iat."""
_REQUIRED = ["exp", "iat", "iss", "aud", "sub"]


class OidcVerifier:
    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_issuer and settings.oidc_audience and settings.oidc_jwks_url
        self._issuer = settings.oidc_issuer
        self._audience = settings.oidc_audience
        self._role_claim = settings.oidc_role_claim.split(".")
        self._name_claim = settings.oidc_name_claim
        # Keys are cached for five minutes; an unknown key id refetches them (the
        # provider rotated), at most every 30 s, so made-up key ids cannot flood it.
        self._keys = PyJWKClient(settings.oidc_jwks_url, lifespan=300, timeout=5)

    async def verify(self, token: str) -> Operator:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise Refused("the identity provider token is malformed") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm.lower() == "none":
            raise Refused("the identity provider token is unsigned (alg none)")
        if algorithm not in ALGORITHMS:
            raise Refused(f"the identity provider token's algorithm is not accepted: {algorithm}")
        if not isinstance(header.get("kid"), str):
            raise Refused("the identity provider token names no signing key (kid)")
        try:
            # The JWKS fetch is blocking (urllib): off the event loop.
            key = await asyncio.to_thread(self._keys.get_signing_key, header["kid"])
        except jwt.PyJWKClientConnectionError:
            raise Refused(
                "the identity provider's keys could not be fetched; try again", status=503
            ) from None
        except jwt.PyJWKSetError:
            raise Refused(
                "the identity provider publishes no key Syncline can use", status=503
            ) from None
        # Not one hierarchy: the client's "no such key id" and a key that will not load.
        except (jwt.PyJWKClientError, jwt.PyJWKError):
            raise Refused("the identity provider token is signed by an unknown key") from None
        claims = self._decode(token, key.key, algorithm)
        name, subject = str(claims.get(self._name_claim) or claims["sub"]), str(claims["sub"])
        role = self._role(claims)
        if role is None:
            raise Refused(
                f"the identity provider grants no Syncline role "
                f"({'.'.join(self._role_claim)}: viewer, operator or admin)",
                status=403,
                actor=name,
                credential_id=subject,
            )
        return Operator(name=name, role=role, sign_in=SignIn.OIDC, credential_id=subject)

    def _decode(self, token: str, key: Any, algorithm: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise Refused("the identity provider token has expired") from None
        except jwt.InvalidAudienceError:
            raise Refused("the identity provider token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise Refused("the identity provider token is from another issuer") from None
        except jwt.ImmatureSignatureError:
            raise Refused("the identity provider token is not valid yet") from None
        except jwt.MissingRequiredClaimError as missing:
            raise Refused(f"the identity provider token lacks the {missing.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise Refused("the identity provider token's signature is wrong") from None
        except jwt.PyJWTError:
            raise Refused("the identity provider token is malformed") from None
        return claims

    def _role(self, claims: dict[str, Any]) -> Role | None:
        """The highest role the claim names (a string, or a list such as groups)."""
        value: Any = claims
        for part in self._role_claim:
            value = value.get(part) if isinstance(value, dict) else None
        values = value if isinstance(value, list) else [value]
        roles = [role for role in map(Role.named, values) if role is not None]
        return max(roles, key=lambda role: role.rank, default=None)
