"""Settings refuse a witness folder that whoever changes the data folder could change too."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from realname.config import Settings, TlsSettings


def test_the_witness_defaults_beside_the_data_folder_not_inside_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.resolved_audit_witness_dir == tmp_path / "data-audit-witness"


@pytest.mark.parametrize("inside", [".", "witness", "nested/witness"])
def test_a_witness_folder_inside_the_data_folder_is_refused(tmp_path: Path, inside: str) -> None:
    with pytest.raises(ValidationError, match="outside the data folder"):
        Settings(data_dir=tmp_path / "data", audit_witness_dir=tmp_path / "data" / inside)


def test_a_witness_url_must_be_http(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="http"):
        Settings(data_dir=tmp_path / "data", audit_witness_url="file:///etc/passwd")
    assert Settings(data_dir=tmp_path / "data", audit_witness_url="https://witness.example/cp").audit_witness_url


def test_the_data_folder_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REALNAME_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    seen = []
    for cwd in (tmp_path, tmp_path / "elsewhere"):
        cwd.mkdir(exist_ok=True)
        monkeypatch.chdir(cwd)
        seen.append(Settings(_env_file=None).data_dir)
    assert seen == [tmp_path / "home" / ".local" / "share" / "realname"] * 2
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Settings(_env_file=None).data_dir == tmp_path / "xdg" / "realname"


def test_a_relative_data_folder_is_made_absolute_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=Path("var"), models_dir=Path("~/models"))
    assert settings.data_dir == tmp_path / "var"
    assert settings.resolved_key_file == tmp_path / "var" / "keys.json"
    assert settings.resolved_models_dir == Path.home() / "models"


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"client_cert_header": "X-Client-Cert"}, "needs tls.trusted_proxies"),
        ({"client_cert_header": "X-Client-Cert", "trusted_proxies": "10.0.0.5, lb.example"}, "'lb.example'"),
        ({"client_cert_header": "X Client: Cert", "trusted_proxies": "10.0.0.5"}, "client_cert_header"),
    ],
)
def test_incomplete_tls_settings_are_refused(tmp_path: Path, fields: dict[str, str], says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(data_dir=tmp_path, tls=TlsSettings.model_validate(fields))
    assert says in str(refused.value)


def test_tls_files_go_together() -> None:
    assert TlsSettings().server_files() is None
    assert TlsSettings(cert_file=Path("s.pem"), key_file=Path("s.key")).server_files() == (
        Path("s.pem").absolute(),
        Path("s.key").absolute(),
        None,
    )
    for fields, says in (({"cert_file": "s.pem"}, "go together"), ({"client_ca_file": "ca.pem"}, "needs a TLS")):
        with pytest.raises(ValueError, match=says):
            TlsSettings.model_validate(fields).server_files()


def test_trusted_proxies_are_addresses_and_networks(tmp_path: Path) -> None:
    tls = TlsSettings(client_cert_header="X-Client-Cert", trusted_proxies="10.0.0.5, 10.1.0.0/16,fd00::/8")
    assert tls.proxy_addresses == ("10.0.0.5", "10.1.0.0/16", "fd00::/8")
    assert Settings(data_dir=tmp_path, tls=tls).tls.client_cert_header == "X-Client-Cert"


def test_the_worker_healthcheck_tolerates_a_slow_start_but_not_uvicorns_tight_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several workers: a starting worker loads its models while it must answer the supervisor's pings, which on a
    loaded host took longer than uvicorn's 5 s (every starting worker killed, a restart loop). 60 s by default."""
    assert Settings(data_dir=tmp_path / "data").worker_healthcheck_seconds == 60
    monkeypatch.setenv("REALNAME_WORKER_HEALTHCHECK_SECONDS", "120")
    assert Settings(data_dir=tmp_path / "data").worker_healthcheck_seconds == 120
    with pytest.raises(ValidationError, match="greater than or equal to 5"):
        Settings(data_dir=tmp_path / "data", worker_healthcheck_seconds=4)
