"""Who a bearer credential names: a personal key, an identity provider's token, or the
deprecated shared token. Anything else is ``Refused`` with the reason."""

from __future__ import annotations

import hmac

from models.operators import SHARED_TOKEN_ACTOR, Operator, Role, SignIn
from store import Store
from store.operator_keys import OperatorKeys
from workers.access import keys
from workers.access.oidc import OidcVerifier
from workers.access.refusal import Refused
from workers.settings import Settings

MAX_CREDENTIAL_BYTES = 8192
"""Longer is refused unread. Identity providers' tokens carrying groups run to a few
kilobytes; nothing legitimate comes near this."""


class Identifier:
    def __init__(self, settings: Settings, store: Store) -> None:
        token = settings.api_token
        # Bytes, so the comparison cannot raise whatever the configured token holds.
        self._shared_token = token.get_secret_value().encode() if token is not None else None
        self._keys = OperatorKeys(store)
        self._oidc = OidcVerifier(settings) if settings.oidc_enabled else None

    async def identify(self, offered: str | None) -> Operator:
        if not offered:
            raise Refused("a personal key or identity provider token is required (Bearer)")
        # Header values arrive decoded as Latin-1, one character per byte, so any byte
        # can be here; the reason names the flaw, never the value.
        if len(offered) > MAX_CREDENTIAL_BYTES:
            raise Refused(f"the credential is longer than {MAX_CREDENTIAL_BYTES} bytes")
        if not offered.isascii():
            raise Refused("the credential must be ASCII")
        if self._shared_token is not None and hmac.compare_digest(
            offered.encode(), self._shared_token
        ):
            return Operator(name=SHARED_TOKEN_ACTOR, role=Role.ADMIN, sign_in=SignIn.SHARED_TOKEN)
        key_id = keys.key_id_of(offered)
        if key_id is not None:
            return await self._personal_key(key_id, offered)
        if offered.count(".") == 2:
            if self._oidc is None:
                raise Refused("identity provider tokens are not accepted here (OIDC not set up)")
            return await self._oidc.verify(offered)
        raise Refused("the credential is neither a personal key nor a token Syncline accepts")

    async def _personal_key(self, key_id: str, offered: str) -> Operator:
        # Read on every request, never cached: a revocation holds on every replica at once.
        row = await self._keys.get(key_id)
        if row is None or not keys.matches(offered, row.secret_sha256):
            raise Refused("the personal key is not valid")
        if row.revoked_at is not None:
            raise Refused(
                "the personal key has been revoked", actor=row.operator, credential_id=key_id
            )
        role = Role.named(row.role)
        if role is None:  # only a hand in the database could have put it there
            raise Refused(
                "the personal key holds no known role",
                status=403,
                actor=row.operator,
                credential_id=key_id,
            )
        return Operator(name=row.operator, role=role, sign_in=SignIn.KEY, credential_id=key_id)
