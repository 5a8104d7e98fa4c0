"""The engine's own certificate authority and the wildcard server certificate of its SSH-over-TLS gateway.

Created on first start under the state dir and reused afterwards, so clients that pinned the CA keep
working across restarts:

    <state_dir>/ca.pem            the CA certificate (public; clients verify the gateway with it)
    <state_dir>/tls/ca.key        the CA private key (0600)
    <state_dir>/tls/server.pem    server certificate for `*.vm.<domain>` and `<domain>`, signed by the CA
    <state_dir>/tls/server.key    its private key (0600)

The server certificate is re-issued (by the same CA) when the domain changes or it nears expiry.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vmtui.paths import write_private

CA_LIFETIME = datetime.timedelta(days=3650)
SERVER_LIFETIME = datetime.timedelta(days=397)
RENEW_BEFORE = datetime.timedelta(days=30)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class EngineTls:
    """Loads or creates the CA + server certificate for one state dir and one VM domain."""

    def __init__(self, state_dir: Path, domain: str = "localhost"):
        self.domain = domain.strip(".").lower()
        self.ca_path = state_dir / "ca.pem"
        self._dir = state_dir / "tls"
        self.ca_key_path = self._dir / "ca.key"
        self.cert_path = self._dir / "server.pem"
        self.key_path = self._dir / "server.key"

    @property
    def server_names(self) -> list[str]:
        """DNS names the server certificate covers: every VM (`<id>.vm.<domain>`) and the domain."""
        return [f"*.vm.{self.domain}", self.domain]

    def ensure(self) -> EngineTls:
        """Create whatever is missing or stale; idempotent and cheap when everything is in place."""
        self._dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self._dir, 0o700)
        ca_key, ca_cert = self._load_or_create_ca()
        if self._server_cert_is_stale():
            self._issue_server_cert(ca_key, ca_cert)
        return self

    def server_context(self) -> ssl.SSLContext:
        """A TLS ≥1.2 server context presenting the wildcard certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx

    def _load_or_create_ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        if self.ca_path.exists() and self.ca_key_path.exists():
            key = serialization.load_pem_private_key(self.ca_key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(self.ca_path.read_bytes())
            if (
                isinstance(key, ec.EllipticCurvePrivateKey)
                and cert.not_valid_after_utc > _now() + RENEW_BEFORE
            ):
                return key, cert
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vmtui local engine CA")])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        write_private(self.ca_key_path, _pem_key(key))
        self.ca_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.cert_path.unlink(missing_ok=True)  # a new CA invalidates the old server certificate
        return key, cert

    def _server_cert_is_stale(self) -> bool:
        if not (self.cert_path.exists() and self.key_path.exists()):
            return True
        cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        ca = x509.load_pem_x509_certificate(self.ca_path.read_bytes())
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return True
        return (
            cert.issuer != ca.subject
            or sorted(names.get_values_for_type(x509.DNSName)) != sorted(self.server_names)
            or cert.not_valid_after_utc < _now() + RENEW_BEFORE
        )

    def _issue_server_cert(self, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in self.server_names]
        alt_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"*.vm.{self.domain}")]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + SERVER_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        write_private(self.key_path, _pem_key(key))
        write_private(self.cert_path, cert.public_bytes(serialization.Encoding.PEM))
