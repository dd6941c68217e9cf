"""Mutual TLS for relying parties through the real server: ``realname serve --tls-cert --tls-key --tls-client-ca``
in a subprocess, certificates made here (a CA, the server's, two parties' and one from a CA the server does not
know), parties registered and pinned with the ``realname party`` CLI, and signed checks sent with httpx over TLS.

Also the TLS-terminating-proxy path: the server is configured to take a client certificate's fingerprint from a
header, but only from 127.0.0.1; the same header from 127.0.0.2 (another loopback address) does not count.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from realname.adapters.http.client_certs import PEER_EXTENSION, ClientCertHeader, presented_fingerprint
from realname.app.relying_party_checks import NewPartyCredential
from tests.e2e.conftest import MODELS_DIR
from tests.e2e.test_checks_api import signed_post
from tests.e2e.test_cli_registry import REALNAME, run
from tests.e2e.test_two_hosts import free_port

PROXY_HEADER = "X-Client-Cert-SHA256"
CONSENT = {"reference": "app-consent/2026/000123", "given_at": datetime.now(UTC).isoformat()}
STATUS_CHECK = {"kind": "status", "number": "13800138000", "consent": CONSENT}


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path
    sha256: str


def _write_pair(folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    cert_file, key_file = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_file.write_bytes(cert.public_bytes(Encoding.PEM))
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return Issued(cert_file, key_file, hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest())


class Authority:
    """A certificate authority made for the test (ECDSA P-256, valid for a day)."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            self._builder(self.name, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def _builder(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
        )

    def issue(self, folder: Path, stem: str, common_name: str, *, server: bool = False) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            self._builder(subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False
            )
        return _write_pair(folder, stem, builder.sign(self.key, hashes.SHA256()), key)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(Encoding.PEM))
        return path


@dataclass
class Deployment:
    base: str
    data_dir: Path
    ca_file: Path
    bank: Issued
    other_party: Issued
    stranger: Issued
    secrets: dict[str, str]
    env: dict[str, str]


def _add_party(data_dir: Path, party_id: str, *extra: str, env: dict[str, str]) -> str:
    added = run(
        data_dir,
        "party",
        "add",
        party_id,
        "--name",
        f"{party_id} Ltd",
        "--purpose",
        "opening accounts",
        "--contact",
        f"risk@{party_id}.example",
        *extra,
        env=env,
    )
    assert added.returncode == 0, added.stderr
    return next(line.split()[-1] for line in added.stdout.splitlines() if line.startswith("client secret"))


def _wait_ready(base: str, ca_file: Path, process: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"realname serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/readyz", verify=ssl.create_default_context(cafile=ca_file), timeout=5).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("realname serve did not become ready over TLS")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("mtls")
    authority, unknown_authority = Authority("Parties CA"), Authority("Somebody else's CA")
    ca_file = authority.write(folder / "parties-ca.pem")
    server = authority.issue(folder, "server", "realname.test", server=True)
    bank = authority.issue(folder, "bank", "demo-bank client")
    other_party = authority.issue(folder, "other", "other-bank client")
    stranger = unknown_authority.issue(folder, "stranger", "demo-bank client")
    data_dir = folder / "data"
    env = {
        "REALNAME_MODELS_DIR": str(MODELS_DIR),
        "REALNAME_INFERENCE_THREADS": "1",
        "REALNAME_TLS__CLIENT_CERT_HEADER": PROXY_HEADER,
        "REALNAME_TLS__TRUSTED_PROXIES": "127.0.0.1",
    }
    assert run(data_dir, "init", env=env).returncode == 0
    party_secrets = {
        "demo-bank": _add_party(data_dir, "demo-bank", "--client-cert", str(bank.cert), env=env),
        "open-bank": _add_party(data_dir, "open-bank", env=env),
    }
    port = free_port()
    serve_env = {**os.environ, "REALNAME_DATA_DIR": str(data_dir), "REALNAME_LOG_LEVEL": "WARNING", **env}
    serve_env.pop("REALNAME_DATABASE_URL", None)
    tls = ["--tls-cert", str(server.cert), "--tls-key", str(server.key), "--tls-client-ca", str(ca_file)]
    process = subprocess.Popen(
        [str(REALNAME), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1", *tls],
        env=serve_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"https://127.0.0.1:{port}"
    try:
        _wait_ready(base, ca_file, process)
        yield Deployment(base, data_dir, ca_file, bank, other_party, stranger, party_secrets, env)
    finally:
        process.terminate()
        process.wait(timeout=30)


def tls_client(deployment: Deployment, cert: Issued | None = None, *, source: str = "127.0.0.1") -> httpx.Client:
    context = ssl.create_default_context(cafile=deployment.ca_file)
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    transport = httpx.HTTPTransport(verify=context, local_address=source)
    return httpx.Client(base_url=deployment.base, transport=transport, timeout=30)


def signed_check(
    client: httpx.Client, party_id: str, secret: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A status check signed as a party's client signs it (the signing of ``test_checks_api.py``)."""
    response: httpx.Response = signed_post(
        client, NewPartyCredential(party_id, secret, 1), STATUS_CHECK, headers=headers
    )
    return response


def test_a_pinned_party_is_answered_only_with_its_own_certificate(deployment: Deployment) -> None:
    secret = deployment.secrets["demo-bank"]
    with tls_client(deployment, deployment.bank) as client:
        answered = signed_check(client, "demo-bank", secret)
        assert answered.status_code == 200, answered.text
        assert answered.json()["result"] == "not_in_service"
        # The signature stays required with the right certificate.
        forged = signed_check(client, "demo-bank", "not-the-secret-" + "y" * 30)
        assert (forged.status_code, forged.json()["code"]) == (401, "party.signature_invalid")
    with tls_client(deployment) as client:
        bare = signed_check(client, "demo-bank", secret)
    assert (bare.status_code, bare.json()["code"]) == (401, "party.client_cert_required")
    with tls_client(deployment, deployment.other_party) as client:
        other = signed_check(client, "demo-bank", secret)
    assert (other.status_code, other.json()["code"]) == (403, "party.client_cert_mismatch")


def test_an_unpinned_party_and_staff_pages_need_no_certificate(deployment: Deployment) -> None:
    with tls_client(deployment) as client:
        answered = signed_check(client, "open-bank", deployment.secrets["open-bank"])
        assert answered.status_code == 200, answered.text
        assert client.get("/healthz").status_code == 200  # a browser or kiosk without a certificate
    with tls_client(deployment, deployment.other_party) as client:
        assert signed_check(client, "open-bank", deployment.secrets["open-bank"]).status_code == 200


def test_a_certificate_from_an_unknown_authority_fails_the_handshake(deployment: Deployment) -> None:
    with tls_client(deployment, deployment.stranger) as client, pytest.raises(httpx.TransportError):
        signed_check(client, "demo-bank", deployment.secrets["demo-bank"])


def test_refusals_are_audited_and_counted(deployment: Deployment) -> None:
    with tls_client(deployment) as client:
        assert signed_check(client, "demo-bank", deployment.secrets["demo-bank"]).status_code == 401
        metrics = client.get("/metrics").text
    assert 'realname_http_errors_total{code="party.client_cert_required"}' in metrics
    with sqlite3.connect(deployment.data_dir / "realname.db") as db:
        codes = {
            json.loads(details)["code"]
            for (details,) in db.execute("SELECT details FROM audit_event WHERE action = 'check.refused'")
        }
    assert "party.client_cert_required" in codes


def test_pinning_from_the_cli_applies_to_the_running_server(deployment: Deployment) -> None:
    secret = deployment.secrets["open-bank"]
    pinned = run(deployment.data_dir, "party", "pin-cert", "open-bank", str(deployment.other_party.cert))
    assert pinned.returncode == 0, pinned.stderr
    assert deployment.other_party.sha256 in pinned.stdout
    try:
        with tls_client(deployment) as client:
            bare = signed_check(client, "open-bank", secret)
        assert (bare.status_code, bare.json()["code"]) == (401, "party.client_cert_required")
        with tls_client(deployment, deployment.other_party) as client:
            assert signed_check(client, "open-bank", secret).status_code == 200
    finally:
        assert run(deployment.data_dir, "party", "pin-cert", "open-bank", "--clear").returncode == 0
    with tls_client(deployment) as client:
        assert signed_check(client, "open-bank", secret).status_code == 200


def test_a_trusted_proxy_may_name_the_certificate_and_nobody_else(deployment: Deployment) -> None:
    secret = deployment.secrets["demo-bank"]
    named = {PROXY_HEADER: ":".join(f"{b:02X}" for b in bytes.fromhex(deployment.bank.sha256))}
    with tls_client(deployment, source="127.0.0.1") as proxy:
        assert signed_check(proxy, "demo-bank", secret, headers=named).status_code == 200
        wrong = signed_check(proxy, "demo-bank", secret, headers={PROXY_HEADER: deployment.other_party.sha256})
        assert (wrong.status_code, wrong.json()["code"]) == (403, "party.client_cert_mismatch")
    with tls_client(deployment, source="127.0.0.2") as outsider:
        spoofed = signed_check(outsider, "demo-bank", secret, headers=named)
    assert (spoofed.status_code, spoofed.json()["code"]) == (401, "party.client_cert_required")


def test_the_proxy_header_counts_once_from_a_trusted_peer_and_never_over_a_presented_certificate() -> None:
    header = ClientCertHeader.parse(PROXY_HEADER, ["10.0.0.0/24", "fd00::1"])
    fingerprint = hashlib.sha256(b"certificate").hexdigest()

    def scope(peer: str | None, *values: str, chain: list[str] | None = None) -> dict[str, Any]:
        extensions: dict[str, Any] = {PEER_EXTENSION: {"host": peer}}
        if chain is not None:
            extensions["tls"] = {"client_cert_chain": chain}
        headers = [(PROXY_HEADER.lower().encode(), v.encode()) for v in values]
        return {"type": "http", "client": ("10.0.0.9", 1), "headers": headers, "extensions": extensions}

    assert presented_fingerprint(scope("10.0.0.7", fingerprint), header) == fingerprint
    assert presented_fingerprint(scope("fd00::1", fingerprint.upper()), header) == fingerprint
    assert presented_fingerprint(scope("10.0.1.7", fingerprint), header) is None  # not a trusted proxy
    assert presented_fingerprint(scope(None, fingerprint), header) is None
    assert presented_fingerprint(scope("10.0.0.7", fingerprint, fingerprint), header) is None  # a client's copy too
    assert presented_fingerprint(scope("10.0.0.7", "not-a-fingerprint"), header) is None
    assert presented_fingerprint(scope("10.0.0.7", fingerprint), None) is None  # no header configured
    # A certificate the connection itself presented wins over any header.
    der = b"0\x03\x02\x01\x00"
    pem = ssl.DER_cert_to_PEM_cert(der)
    assert presented_fingerprint(scope("10.0.0.7", fingerprint, chain=[pem]), header) == hashlib.sha256(der).hexdigest()
