"""``realname party`` as an operator runs it: the installed script in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_checks_mtls import Authority
from tests.e2e.test_cli_registry import run


def test_party_lifecycle_from_the_command_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert run(data_dir, "init").returncode == 0
    added = run(
        data_dir,
        "party",
        "add",
        "demo-bank",
        "--name",
        "Demo Bank",
        "--purpose",
        "opening accounts",
        "--contact",
        "risk@demo-bank.example",
        "--kinds",
        "two_element,status",
        "--daily-quota",
        "500",
    )
    assert added.returncode == 0, added.stderr
    secret = next(line.split()[-1] for line in added.stdout.splitlines() if line.startswith("client secret"))
    assert len(secret) >= 40 and "shown only once" in added.stderr

    listed = run(data_dir, "party", "list", "--json")
    (party,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert party["kinds"] == ["status", "two_element"] and party["daily_quota"] == 500
    assert party["status"] == "active" and party["contact"] == "risk@demo-bank.example"
    assert secret not in listed.stdout

    again = run(data_dir, "party", "add", "demo-bank", "--name", "X", "--purpose", "Y", "--contact", "Z")
    assert again.returncode == 4 and "[party.exists]" in again.stderr
    bad_kind = run(
        data_dir, "party", "add", "other", "--name", "X", "--purpose", "Y", "--contact", "Z", "--kinds", "all"
    )
    assert bad_kind.returncode == 2

    rotated = run(data_dir, "party", "rotate-secret", "demo-bank")
    assert rotated.returncode == 0 and secret not in rotated.stdout and "secret version 2" in rotated.stdout
    assert run(data_dir, "party", "disable", "demo-bank").returncode == 0
    twice = run(data_dir, "party", "disable", "demo-bank")
    assert twice.returncode == 4 and "[party.unchanged]" in twice.stderr
    assert json.loads(run(data_dir, "party", "list", "--json").stdout)["status"] == "disabled"
    assert run(data_dir, "party", "enable", "demo-bank").returncode == 0
    missing = run(data_dir, "party", "enable", "no-such-party")
    assert missing.returncode == 3 and "[party.not_found]" in missing.stderr
    forgotten = run(data_dir, "party", "forget-nonces")
    assert forgotten.returncode == 0 and "forgot 0 nonces" in forgotten.stdout
    audit = run(data_dir, "audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    key_file = (data_dir / "keys.json").read_text()
    assert secret not in key_file


def test_pinning_a_client_certificate_from_the_command_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert run(data_dir, "init").returncode == 0
    authority = Authority("Parties CA")
    first, renewed = authority.issue(tmp_path, "first", "bank"), authority.issue(tmp_path, "renewed", "bank")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(first.cert.read_bytes() + renewed.cert.read_bytes())
    fields = ("--name", "Bank", "--purpose", "accounts", "--contact", "risk@bank.example")

    for bad, code in ((garbage, "party.client_cert_invalid"), (chain, "party.client_cert_invalid")):
        refused = run(data_dir, "party", "add", "bank", *fields, "--client-cert", str(bad))
        assert refused.returncode == 2 and f"[{code}]" in refused.stderr, refused.stderr
    assert run(data_dir, "party", "list", "--json").stdout == ""  # nothing was registered by a refused add

    added = run(data_dir, "party", "add", "bank", *fields, "--client-cert", str(first.cert))
    assert added.returncode == 0 and f"sha256:{first.sha256}" in added.stdout, added.stderr
    assert f"cert:{first.sha256[:16]}" in run(data_dir, "party", "list").stdout
    assert json.loads(run(data_dir, "party", "list", "--json").stdout)["client_cert_sha256"] == first.sha256

    assert run(data_dir, "party", "pin-cert", "bank", str(renewed.cert)).returncode == 0
    assert json.loads(run(data_dir, "party", "list", "--json").stdout)["client_cert_sha256"] == renewed.sha256
    again = run(data_dir, "party", "pin-cert", "bank", str(renewed.cert))
    assert again.returncode == 4 and "[party.unchanged]" in again.stderr
    assert run(data_dir, "party", "pin-cert", "bank", str(garbage)).returncode == 2
    both = run(data_dir, "party", "pin-cert", "bank", str(first.cert), "--clear")
    assert both.returncode == 2 and "either PEM_FILE or --clear" in both.stderr
    assert run(data_dir, "party", "pin-cert", "bank", "--clear").returncode == 0
    assert "cert:-" in run(data_dir, "party", "list").stdout
    audit = run(data_dir, "audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_serve_refuses_incomplete_or_unreadable_tls_files(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = Authority("CA").issue(tmp_path, "server", "realname.test", server=True)
    half = run(data_dir, "serve", "--port", "8791", "--tls-cert", str(server.cert))
    assert half.returncode == 2 and "[tls.options_invalid]" in half.stderr, half.stderr
    wrong_key = Authority("CA").issue(tmp_path, "other", "realname.test", server=True).key
    mismatched = run(data_dir, "serve", "--port", "8791", "--tls-cert", str(server.cert), "--tls-key", str(wrong_key))
    assert mismatched.returncode == 2 and "[tls.files_invalid]" in mismatched.stderr, mismatched.stderr
    no_ca = run(
        data_dir,
        "serve",
        "--port",
        "8791",
        "--tls-cert",
        str(server.cert),
        "--tls-key",
        str(server.key),
        "--tls-client-ca",
        str(tmp_path / "missing-ca.pem"),
    )
    assert no_ca.returncode == 2 and "[tls.files_invalid]" in no_ca.stderr, no_ca.stderr
    header_alone = run(data_dir, "serve", "--port", "8791", env={"REALNAME_TLS__CLIENT_CERT_HEADER": "X-Cert"})
    assert header_alone.returncode != 0 and "trusted_proxies" in header_alone.stderr
