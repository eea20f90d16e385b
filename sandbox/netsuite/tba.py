"""Token-based authentication (OAuth 1.0a, HMAC-SHA256) as NetSuite checks it.

Written from RFC 5849 rather than with the library the connector signs with, so the
two check each other: a mistake both made the same way is what this avoids (the
tests also hold both to Oracle's published example signature).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

# The reasons NetSuite's Login Audit Trail shows for a refused TBA request, where its
# documentation names one (nonce and timestamp errors, consumer key, signature);
# the others are the sandbox's own words.
MISSING_PARAMETER = "MissingTokenPassportRequiredFields"
CONSUMER_KEY_UNKNOWN = "consumer_key_unknown"
TOKEN_UNKNOWN = "InvalidToken"
TOKEN_REVOKED = "TokenRevoked"
INVALID_REALM = "InvalidAccount"
INVALID_SIGNATURE_METHOD = "InvalidSignatureMethod"
INVALID_VERSION = "InvalidVersion"
INVALID_TIMESTAMP = "InvalidTimestamp"
NONCE_REJECTED = "nonce_rejected"
NONCE_USED = "NonceUsed"
INVALID_SIGNATURE = "InvalidSignature"

REQUIRED = (
    "oauth_consumer_key",
    "oauth_token",
    "oauth_signature_method",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
)
# NetSuite: "The timestamp of the request must be within plus or minus five minutes of
# the server time"; a nonce must have at least six characters.
TIMESTAMP_TOLERANCE = 300
MIN_NONCE = 6
_PARAM = re.compile(r'\s*([A-Za-z0-9_]+)\s*=\s*"([^"]*)"\s*(?:,|$)')


class TbaRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode(value: str) -> str:
    """RFC 5849 §3.6: every byte but the unreserved ``A-Z a-z 0-9 - . _ ~`` escaped."""
    return quote(value, safe="")


def parse_header(header: str) -> dict[str, str]:
    """The parameters of ``Authorization: OAuth k="v", ...`` (values percent-decoded)."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "oauth":
        raise TbaRefused(MISSING_PARAMETER)
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None:
            raise TbaRefused(MISSING_PARAMETER)
        name, value = match.group(1), unquote(match.group(2))
        if name in params:  # a parameter given twice is ambiguous: refused
            raise TbaRefused(MISSING_PARAMETER)
        params[name] = value
        position = match.end()
    return params


def base_string_uri(scheme: str, host: str, port: int | None, raw_path: str) -> str:
    """RFC 5849 §3.4.1.2: scheme and host in lower case, the default port left out, the
    path as sent (still percent-encoded), no query."""
    scheme, host = scheme.lower(), host.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    authority = host if port is None or port == default else f"{host}:{port}"
    return f"{scheme}://{authority}{raw_path or '/'}"


def signature_base_string(method: str, uri: str, query: str, oauth_params: dict[str, str]) -> str:
    """``METHOD&enc(uri)&enc(sorted parameters)``: the query's parameters and the
    header's ``oauth_*`` ones, without ``realm`` and ``oauth_signature``. (A
    form-encoded body would join them; the REST API takes only JSON.)"""
    pairs: Iterable[tuple[str, str]] = [
        *parse_qsl(query, keep_blank_values=True),
        *((k, v) for k, v in oauth_params.items() if k not in ("realm", "oauth_signature")),
    ]
    normalized = "&".join(f"{k}={v}" for k, v in sorted((encode(k), encode(v)) for k, v in pairs))
    return "&".join((method.upper(), encode(uri), encode(normalized)))


def sign(base_string: str, consumer_secret: str, token_secret: str) -> str:
    key = f"{encode(consumer_secret)}&{encode(token_secret)}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class SignedRequest:
    method: str
    uri: str
    query: str
    authorization: str


class NonceLedger:
    """The (token, nonce, timestamp) triples already used, for as long as their
    timestamp could still be accepted. In memory: a replay across a restart of the
    sandbox within five minutes would pass, a gap a test double can live with."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], float] = {}

    def first_use(self, key: tuple[str, str, str], now: float) -> bool:
        if len(self._seen) > 10_000:
            horizon = now - 2 * TIMESTAMP_TOLERANCE
            self._seen = {k: t for k, t in self._seen.items() if t >= horizon}
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


def verify(
    request: SignedRequest,
    *,
    realm: str,
    secrets_of: Callable[[str, str], tuple[str, str]],
    nonces: NonceLedger,
    now: float | None = None,
) -> tuple[str, str]:
    """The (consumer key, token id) of a correctly signed request, or ``TbaRefused``.

    ``secrets_of(consumer_key, token_id)`` gives the two secrets or raises
    ``TbaRefused`` for an unknown or revoked key or token. Checked in the order that
    leaves the nonce unspent by a request that fails for another reason.
    """
    now = time.time() if now is None else now
    params = parse_header(request.authorization)
    if any(not params.get(name) for name in REQUIRED):
        raise TbaRefused(MISSING_PARAMETER)
    if params.get("realm") != realm:
        raise TbaRefused(INVALID_REALM)
    if params["oauth_signature_method"] != "HMAC-SHA256":  # HMAC-SHA1 ended with 2023.1
        raise TbaRefused(INVALID_SIGNATURE_METHOD)
    if params.get("oauth_version", "1.0") != "1.0":
        raise TbaRefused(INVALID_VERSION)
    consumer_key, token_id = params["oauth_consumer_key"], params["oauth_token"]
    consumer_secret, token_secret = secrets_of(consumer_key, token_id)
    timestamp = params["oauth_timestamp"]
    if not timestamp.isdigit() or abs(int(timestamp) - now) > TIMESTAMP_TOLERANCE:
        raise TbaRefused(INVALID_TIMESTAMP)
    if len(params["oauth_nonce"]) < MIN_NONCE:
        raise TbaRefused(NONCE_REJECTED)
    base = signature_base_string(request.method, request.uri, request.query, params)
    expected = sign(base, consumer_secret, token_secret)
    if not hmac.compare_digest(expected.encode(), params["oauth_signature"].encode()):
        raise TbaRefused(INVALID_SIGNATURE)
    if not nonces.first_use((token_id, params["oauth_nonce"], timestamp), now):
        raise TbaRefused(NONCE_USED)
    return consumer_key, token_id
