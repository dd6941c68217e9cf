"""The one Settings object, read from ``REALNAME_*`` environment variables (and ``.env``).

Built and validated only at the entry points; everything below receives plain values.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from realname.domain.anomalies import (
    AnomalyRule,
    DistantRegions,
    FaceMismatches,
    NotMineByOutlet,
    OutsideOpeningHours,
    RegistrationBurst,
)
from realname.domain.policy import Policy
from realname.domain.relying_parties import CheckPolicy

DEV_TOKEN_SECRET = "dev-only-token-secret-change-me"  # noqa: S105 - the refused default


def default_data_dir() -> Path:
    """The data folder when ``REALNAME_DATA_DIR`` is not set, whatever the working directory:
    ``$XDG_DATA_HOME/realname``, else ``~/.local/share/realname`` (the XDG base-directory convention)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "realname"


class PolicySettings(BaseModel):
    """Mirrors :class:`realname.domain.policy.Policy`; set with ``REALNAME_POLICY__FIELD``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_numbers_per_id: int = Field(5, ge=1)
    cooling_off_days: int = Field(90, ge=0)
    reservation_ttl_seconds: int = Field(600, ge=1)
    min_age: int = Field(16, ge=0)
    attempt_ttl_minutes: int = Field(30, ge=1)
    challenge_actions: int = Field(3, ge=1, le=4)
    challenge_ttl_seconds: int = Field(120, ge=1)
    max_challenges_per_attempt: int = Field(3, ge=1, le=20)
    max_reservations_per_attempt: int = Field(3, ge=1, le=100)
    target_fmr: float = Field(1e-4, gt=0, lt=1)
    max_image_pixels: int = Field(40_000_000, ge=1)
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1)
    max_clip_seconds: float = Field(10.0, gt=0)
    max_failed_attempts: int = Field(5, ge=1)
    lockout_window_minutes: int = Field(30, ge=1)
    lockout_minutes: int = Field(60, ge=1)
    retention_days_after_service: int = Field(730, ge=1)
    keep_evidence: bool = False
    evidence_retention_days: int = Field(365, ge=1)

    def to_domain(self) -> Policy:
        return Policy(**self.model_dump())


class CheckSettings(BaseModel):
    """Mirrors :class:`realname.domain.relying_parties.CheckPolicy`; set with ``REALNAME_CHECKS__FIELD``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replay_window_seconds: int = Field(300, ge=1, le=3600)
    enumeration_window_minutes: int = Field(60, ge=1)
    max_numbers_per_id: int = Field(5, ge=1)
    max_ids_per_number: int = Field(5, ge=1)
    max_consent_age_days: int = Field(366, ge=1)
    batch_wait_ms: float = Field(5.0, ge=0, le=50)
    """Group commit: how long a check waits for others to share its transaction while another batch of this
    worker is running (0: every check commits alone)."""
    batch_max: int = Field(32, ge=1, le=256)
    """Group commit: at most this many checks share one transaction."""
    batch_running: int = Field(1, ge=1, le=64)
    """Group commit: a check waits for company only while this many batches of its worker are running."""

    def to_domain(self) -> CheckPolicy:
        return CheckPolicy(**self.model_dump(exclude={"batch_wait_ms", "batch_max", "batch_running"}))


class ReportSettings(BaseModel):
    """Reports' local time, the anomaly rules' thresholds (``domain/anomalies.py``) and what subscriber notices
    say about reporting (``domain/notices.py``); set with ``REALNAME_REPORTS__FIELD``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    utc_offset_hours: float = Field(8.0, ge=-14, le=14)
    opens_at_hour: int = Field(8, ge=0, le=23)
    closes_at_hour: int = Field(22, ge=1, le=24)
    burst_min_per_hour: int = Field(10, ge=1)
    burst_factor: float = Field(4.0, gt=1)
    burst_baseline_days: int = Field(14, ge=1, le=31)
    region_min_ids: int = Field(5, ge=2)
    region_min_distance_km: float = Field(1000.0, gt=0)
    region_window_minutes: int = Field(60, ge=1, le=1440)
    mismatch_min_ids: int = Field(3, ge=2)
    mismatch_window_minutes: int = Field(60, ge=1, le=1440)
    outside_hours_min_registrations: int = Field(1, ge=1)
    not_mine_min_reports: int = Field(3, ge=1)
    not_mine_window_days: int = Field(7, ge=1, le=31)
    not_mine_registered_within_days: int = Field(365, ge=1)
    notice_how_to_report: str = Field(
        "Report it on the self-service page (/me) or at any store with your ID card.", min_length=1, max_length=200
    )

    @model_validator(mode="after")
    def _opening_hours(self) -> ReportSettings:
        if self.opens_at_hour >= self.closes_at_hour:
            raise ValueError("reports.opens_at_hour must be before reports.closes_at_hour")
        return self

    def rules(self) -> tuple[AnomalyRule, ...]:
        return (
            RegistrationBurst(
                self.burst_min_per_hour,
                self.burst_factor,
                self.burst_baseline_days,
                self.closes_at_hour - self.opens_at_hour,
            ),
            DistantRegions(self.region_min_ids, self.region_min_distance_km, self.region_window_minutes),
            FaceMismatches(self.mismatch_min_ids, self.mismatch_window_minutes),
            OutsideOpeningHours(
                self.opens_at_hour, self.closes_at_hour, self.utc_offset_hours, self.outside_hours_min_registrations
            ),
            NotMineByOutlet(self.not_mine_min_reports, self.not_mine_window_days, self.not_mine_registered_within_days),
        )


class TlsSettings(BaseModel):
    """``realname serve`` over HTTPS, relying parties' client certificates; set with ``REALNAME_TLS__FIELD``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cert_file: Path | None = None
    """The server's certificate (PEM, its chain after it); with ``key_file`` the server speaks HTTPS only."""
    key_file: Path | None = None
    client_ca_file: Path | None = None
    """CA certificates (PEM) that sign relying parties' client certificates: the server asks every client for a
    certificate, serves clients without one, and refuses a handshake with one these CAs did not sign."""
    client_cert_header: str | None = Field(None, pattern=r"^[A-Za-z0-9-]{1,64}$")
    """Behind a TLS-terminating proxy: the header in which it names the verified client certificate's SHA-256
    fingerprint (hex). Counted only from ``trusted_proxies``."""
    trusted_proxies: str = ""
    """Comma-separated addresses or networks of the proxies whose ``client_cert_header`` counts."""

    @field_validator("cert_file", "key_file", "client_ca_file")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        return None if path is None else path.expanduser().absolute()

    @model_validator(mode="after")
    def _trusted_header(self) -> TlsSettings:
        # The files are checked together by ``server_files`` once ``serve``'s options are added to them.
        if self.client_cert_header is not None and not self.proxy_addresses:
            raise ValueError("tls.client_cert_header needs tls.trusted_proxies (who may send it)")
        for address in self.proxy_addresses:
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError as exc:
                raise ValueError(f"tls.trusted_proxies: {address!r} is not an address or network") from exc
        return self

    def server_files(self) -> tuple[Path, Path, Path | None] | None:
        """(certificate, key, client CA) to serve HTTPS with; None for plain HTTP.

        Raises:
            ValueError: a certificate without its key (or the reverse), a client CA without them.
        """
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("the TLS certificate and key go together (--tls-cert and --tls-key)")
        if self.cert_file is None or self.key_file is None:
            if self.client_ca_file is not None:
                raise ValueError("a client CA needs a TLS certificate and key (client certificates need TLS)")
            return None
        return self.cert_file, self.key_file, self.client_ca_file

    @property
    def proxy_addresses(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.trusted_proxies.split(",") if p.strip())


class Settings(BaseSettings):
    """Everything configurable. See the README's Configuration table for each ``REALNAME_*`` name."""

    model_config = SettingsConfigDict(
        env_prefix="REALNAME_", env_nested_delimiter="__", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    key_file: Path | None = None
    models_dir: Path | None = None
    face_engine: Literal["sface", "onnx", "dlib"] = "sface"
    inference_threads: int = Field(2, ge=1, le=64)
    inference_queue: int = Field(8, ge=0, le=1024)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    worker_healthcheck_seconds: int = Field(
        60,
        ge=5,
        le=3600,
        description="With more than one worker: how long a worker may leave the supervisor's ping unanswered before it "
        "is killed and replaced. A starting worker imports the app and loads its models while it answers; on a "
        "loaded host uvicorn's default of 5 s killed every starting worker (a restart loop that never served)",
    )
    stream_relay_host: str = Field(
        "127.0.0.1",
        description="Address each worker also listens on (ephemeral port) so other workers and hosts can relay a "
        "streamed clip's chunks to the worker holding the stream; `off` keeps streams local to one process",
    )
    database_connections: int = Field(40, ge=2, le=10_000)
    token_secret: SecretStr = SecretStr(DEV_TOKEN_SECRET)
    token_ttl_minutes: int = Field(15, ge=1, le=24 * 60)
    idle_lock_minutes: int = Field(5, ge=1, le=24 * 60)
    """The kiosk, review and reports pages lock after this long without activity and ask for the password again."""
    session_max_hours: int = Field(12, ge=1, le=24 * 7)
    """Tokens are renewed while the page is used, at most this long after the password was typed."""
    staff_check_cache_seconds: float = Field(5.0, ge=0, le=30)
    """A worker serves a staff sign-in it found usable this long ago without reading it again (0: every request
    reads it); a member disabled or reset by another process is refused within this time."""
    audit_checkpoint_every: int = Field(1000, ge=1)
    audit_checkpoint_minutes: float = Field(5.0, gt=0)
    audit_witness_dir: Path | None = None
    audit_witness_url: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    reader_bridge_url: str = Field(
        "http://127.0.0.1:18455",
        pattern=r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?$",
        description="Origin of the store PC's ID-card reader bridge (a loopback address: it runs on the kiosk's PC)",
    )
    policy: PolicySettings = PolicySettings()
    checks: CheckSettings = CheckSettings()
    reports: ReportSettings = ReportSettings()
    tls: TlsSettings = TlsSettings()

    @field_validator("data_dir", "key_file", "models_dir", "audit_witness_dir")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        """Folders and files are made absolute once, when the settings are read (``~`` expanded): a command
        started from another directory later never resolves them anew."""
        return None if path is None else path.expanduser().absolute()

    @model_validator(mode="after")
    def _refuse_default_secrets_outside_dev(self) -> Settings:
        if self.env == "prod" and self.token_secret.get_secret_value() == DEV_TOKEN_SECRET:
            raise ValueError("REALNAME_TOKEN_SECRET must be set to a secret of your own when REALNAME_ENV=prod")
        if self.env == "prod" and len(self.token_secret.get_secret_value()) < 32:
            raise ValueError("REALNAME_TOKEN_SECRET must be at least 32 characters when REALNAME_ENV=prod")
        return self

    @model_validator(mode="after")
    def _witness_outside_the_data_folder(self) -> Settings:
        data_dir = self.data_dir.resolve()
        witness = self.resolved_audit_witness_dir.resolve()
        if witness == data_dir or witness.is_relative_to(data_dir):
            raise ValueError(
                "REALNAME_AUDIT_WITNESS_DIR must be outside the data folder (whoever can change the data "
                "folder must not be able to change the witness)"
            )
        if self.audit_witness_url is not None and not self.audit_witness_url.startswith(("https://", "http://")):
            raise ValueError("REALNAME_AUDIT_WITNESS_URL must be an http:// or https:// URL")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'realname.db').as_posix()}"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or self.data_dir / "keys.json"

    @property
    def resolved_audit_witness_dir(self) -> Path:
        """The witness folder; by default beside the data folder (``<data folder>-audit-witness``)."""
        if self.audit_witness_dir is not None:
            return self.audit_witness_dir
        data_dir = self.data_dir.absolute()
        return data_dir.parent / f"{data_dir.name}-audit-witness"

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"
