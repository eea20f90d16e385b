"""The two ways a NetSuite account lets an integration in, as plain values.

* ``OAuth2Credentials``: OAuth 2.0 client credentials (machine to machine). An
  administrator maps the integration record, a role and an entity to the public
  certificate of a key pair Syncline holds; NetSuite shows a certificate id. Syncline
  signs a short JWT with the private key and trades it for a 60-minute access token.
  No client secret is ever sent: NetSuite's client-credentials grant refuses one.
* ``TbaCredentials``: token-based authentication (OAuth 1.0a). The integration
  record's consumer key and secret and an access token's id and secret; every request
  is signed with HMAC-SHA256. What most existing integrations use.

Neither ``repr`` shows a secret, so a credential in a log line or a traceback's locals
gives nothing away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

# The key types NetSuite accepts for the client-credentials certificate, with the JWT
# algorithm each signs with. RSA signs with RSASSA-PSS: NetSuite stopped accepting
# RS256 (PKCS#1 v1.5) assertions in 2025. An EC curve fixes its hash (ES256 = P-256).
RSA_KEY_SIZES = (3072, 4096)
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
RSA_ALGORITHM = "PS256"
SCOPE = "rest_webservices"


class CredentialError(ValueError):
    """A credential NetSuite would refuse, found before any request is made."""


@dataclass(frozen=True, repr=False)
class OAuth2Credentials:
    """OAuth 2.0 client credentials with a JWT assertion signed by ``private_key_pem``."""

    client_id: str
    certificate_id: str
    private_key_pem: bytes = field(compare=False)
    scope: str = SCOPE

    def __post_init__(self) -> None:
        if not self.client_id or not self.certificate_id:
            raise CredentialError("OAuth 2.0 needs the client id and the certificate id")
        self.algorithm  # noqa: B018 - read the key now: a bad key fails at start-up

    @classmethod
    def from_key_file(cls, client_id: str, certificate_id: str, path: Path) -> OAuth2Credentials:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise CredentialError(
                f"cannot read the private key file {path}: {exc.strerror}"
            ) from None
        return cls(client_id=client_id, certificate_id=certificate_id, private_key_pem=pem)

    @cached_property
    def private_key(self) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
        try:
            key = load_pem_private_key(self.private_key_pem, password=None)
        except (ValueError, TypeError):
            # Never the exception's text: it may quote the file.
            raise CredentialError("the private key is not an unencrypted PEM private key") from None
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise CredentialError("NetSuite takes an RSA or an EC key, not this one")
        return key

    @cached_property
    def algorithm(self) -> str:
        """The JWT ``alg`` this key signs with (PS256, or the EC curve's ES256/384/512)."""
        key = self.private_key
        if isinstance(key, rsa.RSAPrivateKey):
            if key.key_size not in RSA_KEY_SIZES:
                raise CredentialError(
                    f"an RSA key of {key.key_size} bits: NetSuite takes 3072 or 4096"
                )
            return RSA_ALGORITHM
        try:
            return EC_ALGORITHMS[key.curve.name]
        except KeyError:
            raise CredentialError(
                f"an EC key on {key.curve.name}: NetSuite takes P-256, P-384 or P-521"
            ) from None

    def __repr__(self) -> str:
        return (
            f"OAuth2Credentials(client_id={self.client_id!r}, "
            f"certificate_id={self.certificate_id!r})"
        )


def realm_of(account_id: str) -> str:
    """The account id as TBA's ``realm`` wants it: ``1234567-sb1`` -> ``1234567_SB1``.

    Hostnames write a sandbox account in lower case with a hyphen, the realm in upper
    case with an underscore; accept either form in the setting.
    """
    return account_id.strip().upper().replace("-", "_")


@dataclass(frozen=True, repr=False)
class TbaCredentials:
    """Token-based authentication: every request signed (OAuth 1.0a, HMAC-SHA256)."""

    account_id: str
    consumer_key: str
    consumer_secret: str = field(compare=False)
    token_id: str
    token_secret: str = field(compare=False)

    def __post_init__(self) -> None:
        names = ("account_id", "consumer_key", "consumer_secret", "token_id", "token_secret")
        missing = [name for name in names if not getattr(self, name)]
        if missing:
            raise CredentialError(f"token-based authentication needs {', '.join(missing)}")

    @property
    def realm(self) -> str:
        return realm_of(self.account_id)

    def __repr__(self) -> str:
        return (
            f"TbaCredentials(account_id={self.account_id!r}, "
            f"consumer_key={self.consumer_key!r}, token_id={self.token_id!r})"
        )


NetSuiteCredentials = OAuth2Credentials | TbaCredentials
