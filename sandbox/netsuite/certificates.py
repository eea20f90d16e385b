"""Certificates for OAuth 2.0 client credentials: the checks NetSuite makes when an
administrator uploads one, and throwaway key pairs for the dev stack and the tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

# NetSuite's conditions (Help Center, "Certificate Conditions"): x.509; RSA keys of
# 3072 or 4096 bits, EC keys of 256, 384 or 521 bits; valid two years at most, a
# longer certificate being cut to two years (from when is not said: from its start).
RSA_KEY_SIZES = (3072, 4096)
EC_CURVES = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
RSA_ALGORITHMS = ("PS256", "PS384", "PS512")
MAX_VALIDITY = timedelta(days=730)

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class CertificateRefused(ValueError):
    """The upload NetSuite's setup page would refuse, with the reason it shows."""


@dataclass(frozen=True)
class MappedCertificate:
    """What a mapping keeps of an uploaded certificate."""

    public_key_pem: str
    fingerprint: str
    algorithms: tuple[str, ...]
    valid_until: datetime


def algorithms_for(key: PublicKey) -> tuple[str, ...]:
    """The JWT algorithms this key can verify (an EC curve fixes its hash)."""
    if isinstance(key, rsa.RSAPublicKey):
        return RSA_ALGORITHMS
    return (EC_CURVES[key.curve.name],)


def read_certificate(pem: str, now: datetime) -> MappedCertificate:
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise CertificateRefused("The file is not an x.509 certificate in PEM format.") from None
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size not in RSA_KEY_SIZES:
            raise CertificateRefused(
                f"The RSA key has {key.key_size} bits; it must have 3072 or 4096."
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            raise CertificateRefused("The EC key must be on P-256, P-384 or P-521.")
    else:
        raise CertificateRefused("The certificate must hold an RSA or an EC key.")
    starts = certificate.not_valid_before_utc
    ends = min(certificate.not_valid_after_utc, starts + MAX_VALIDITY)
    if ends <= now:
        raise CertificateRefused("The certificate has expired.")
    der = certificate.public_bytes(serialization.Encoding.DER)
    return MappedCertificate(
        public_key_pem=key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii"),
        fingerprint=hashlib.sha256(der).hexdigest(),
        algorithms=algorithms_for(key),
        valid_until=ends,
    )


def load_public_key(pem: str) -> PublicKey:
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return key


@dataclass(frozen=True)
class KeyPair:
    """A private key (PEM, unencrypted) and its self-signed certificate (PEM)."""

    private_key_pem: bytes
    certificate_pem: bytes

    @property
    def valid_until(self) -> datetime:
        return x509.load_pem_x509_certificate(self.certificate_pem).not_valid_after_utc


def make_key_pair(
    kind: Literal["ec", "rsa"] = "ec", *, days: int = 365, common_name: str = "syncline-dev"
) -> KeyPair:
    """A throwaway key pair, as an administrator makes one with ``openssl req -x509``.

    EC P-256 by default: generated in microseconds (RSA 3072 takes most of a second),
    and NetSuite takes both.
    """
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return KeyPair(
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
    )
