"""Operator commands of the privacy features: key rotation, backup and restore, audit checkpoints and
export, retention purge, and the privacy self-scan.

``keys_group``, ``purge_command`` and ``privacy_group`` are added to the root group;
``audit_admin_commands`` (``checkpoint``, ``export``, ``verify-export``) are added to the existing
``audit`` group, whose ``verify`` calls :func:`verify_with_checkpoints` (or is replaced by
``audit_verify_command``). Commands get their use cases from ``ctx.obj.privacy_services()``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import click
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from realname.adapters.cli.errors import reports_errors
from realname.adapters.cli.input_files import GIB, KIB, MIB, bounded_lines, read_input_text, require_regular_file
from realname.adapters.cli.terminal import printable
from realname.adapters.privacy_scan import scan_report
from realname.adapters.vision.models import LOCK_FILE_NAME, read_lock
from realname.app.actors import OPERATOR_CLI
from realname.app.audit_admin import AuditAdmin, ExportRange, verify_export
from realname.app.key_custody import KeyBackups, KeyCustody
from realname.app.key_rotation import KeyRotation, RotationProgress
from realname.app.retention import Retention
from realname.domain.audit_checkpoints import TrailVerification
from realname.domain.errors import InvalidInput

NEEDLES_ENV = "REALNAME_SCAN_NEEDLES"


@dataclass(frozen=True, slots=True)
class PrivacyServices:
    """The privacy use cases, built by ``realname.bootstrap.privacy.build_privacy_services``."""

    audit_admin: AuditAdmin
    key_rotation: KeyRotation
    retention: Retention


@dataclass(frozen=True, slots=True)
class KeyCustodyServices:
    """Key custody and key-file backups; usable without a (matching) key file, for ``keys restore``."""

    custody: KeyCustody
    backups: KeyBackups


class PrivacyCliWiring(Protocol):
    """What these commands need from the composition root."""

    def privacy_services(self) -> PrivacyServices: ...

    def key_custody_services(self) -> KeyCustodyServices: ...


def _wiring() -> PrivacyCliWiring:
    obj = click.get_current_context().obj
    if obj is None:
        raise click.UsageError("the realname CLI was started without its composition root")
    wired: PrivacyCliWiring = obj
    return wired


def services() -> PrivacyServices:
    return _wiring().privacy_services()


def _moment(text: str | None, option: str) -> datetime | None:
    """An ISO date or date-time; without a zone it is taken as UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"{option} is not an ISO date or date-time: {text!r}", code="audit.range") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- keys ---------------------------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """Key-encryption keys: status, rotation, backup and restore."""


PASSPHRASE_ENV = "REALNAME_KEY_BACKUP_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
MAX_PASSPHRASE_FILE_BYTES = 64 * KIB
MAX_KEY_BACKUP_BYTES = 4 * MIB  # as the backup reader's own limit
MAX_AUDIT_EXPORT_BYTES = 4 * GIB
MAX_AUDIT_EXPORT_LINE_CHARS = 1 * MIB  # one event or checkpoint, or the header with its public keys
MAX_NEEDLES_FILE_BYTES = 1 * MIB


def _passphrase(passphrase_file: Path | None, *, confirm: bool) -> str:
    """From --passphrase-file, else REALNAME_KEY_BACKUP_PASSPHRASE, else a hidden prompt."""
    if passphrase_file is not None:
        lines = read_input_text(passphrase_file, max_bytes=MAX_PASSPHRASE_FILE_BYTES, what="passphrase file")
        first = lines.splitlines()
        return first[0] if first else ""
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise InvalidInput(
            f"give the passphrase with --passphrase-file or {PASSPHRASE_ENV}", code="keys.passphrase_missing"
        )
    entered: str = click.prompt("backup passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    return entered


_passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help=f"First line is the passphrase (else {PASSPHRASE_ENV}, else a prompt).",
)


@keys_group.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_passphrase_option
@reports_errors
def keys_backup(file: Path, passphrase_file: Path | None) -> None:
    """Write the key material to FILE, sealed under a passphrase (scrypt + AES-256-GCM), mode 0600.

    Keep FILE and its passphrase apart, and both away from the data folder: with them the data can be
    read, without them (and without the key file) it is lost.
    """
    custody = _wiring().key_custody_services()
    custody.custody.backup(OPERATOR_CLI, custody.backups, file, _passphrase(passphrase_file, confirm=True))
    click.echo(f"key material backed up to {file} (mode 0600, sealed under the passphrase)")


@keys_group.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_passphrase_option
@click.option("--replace", is_flag=True, help="Move an existing (wrong) key file aside instead of refusing.")
@reports_errors
def keys_restore(file: Path, passphrase_file: Path | None, replace: bool) -> None:
    """Put the key file from a backup in place, once it is checked to match the database."""
    require_regular_file(file, max_bytes=MAX_KEY_BACKUP_BYTES, what="key backup")
    custody = _wiring().key_custody_services()
    report = custody.custody.restore(
        OPERATOR_CLI, custody.backups, file, _passphrase(passphrase_file, confirm=False), replace_existing=replace
    )
    if report.key_file_moved_to is not None:
        click.echo(f"the previous key file was moved to {report.key_file_moved_to}")
    click.echo("key file restored; it matches the database")


@keys_group.command("rotate")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.option("--resume", is_flag=True, help="Do not create a new version; finish moving records to the current one.")
@reports_errors
def keys_rotate(batch_size: int, resume: bool) -> None:
    """Create a new KEK version, re-wrap every stored data key under it, then retire the old versions."""

    def progress(step: RotationProgress) -> None:
        click.echo(
            f"\rpass {step.pass_number}  {step.column:<28} {step.done}/{step.total}  re-wrapped {step.rewrapped}",
            err=True,
            nl=step.done >= step.total,
        )

    report = services().key_rotation.rotate(
        OPERATOR_CLI, batch_size=batch_size, new_version=not resume, on_progress=progress
    )
    click.echo(f"current KEK version {report.new_version}")
    click.echo(f"re-wrapped {report.rewrapped} records in {report.passes} passes")
    retired = ", ".join(str(v) for v in report.retired) or "none"
    click.echo(f"retired versions: {retired}")


@keys_group.command("status")
@reports_errors
def keys_status() -> None:
    """KEK versions and how many stored records each one wraps."""
    report = services().key_rotation.status(OPERATOR_CLI)
    click.echo(f"current KEK version {report.current_version}")
    for version in report.versions:
        created = version.created_at.isoformat() if version.created_at else "-"
        click.echo(f"  v{version.version}\t{version.status.value}\t{created}")
    for usage in report.columns:
        counts = ", ".join(f"v{v}: {n}" for v, n in usage.by_version.items()) or "no records"
        click.echo(f"{usage.column:<28} {counts}")


# -- audit --------------------------------------------------------------------------------------


def verify_with_checkpoints(privacy: PrivacyServices) -> TrailVerification:
    """The check behind ``realname audit verify``: chain, checkpoint signatures and positions, head."""
    return privacy.audit_admin.verify(OPERATOR_CLI)


def echo_trail_verification(result: TrailVerification) -> int:
    """Print the verdict (stdout when intact, stderr when broken) and return the exit code."""
    if result.intact:
        click.echo(
            f"audit chain intact: {result.events_checked} events, {result.checkpoints_checked} signed checkpoints"
            f" (signed through {result.signed_through_seq}, witnessed through {result.witnessed_through_seq});"
            f" {result.chains_checked} chains"
        )
        if result.newest_stored_seq > result.witnessed_through_seq:
            click.echo(
                f"warning: checkpoints after {result.witnessed_through_seq} are not witnessed outside the database"
                " yet (run `realname audit checkpoint`)",
                err=True,
            )
        return 0
    click.echo(f"audit chain BROKEN at {_position(result)}: {printable(result.problem or '')}", err=True)
    return 1


def _position(result: TrailVerification) -> str:
    """Where verification failed: a chain's sequence number, or a checkpoint (by its total event count)."""
    if result.first_bad_chain is None and result.chains_checked > 1:
        return f"the checkpoint at {result.first_bad_seq}"
    chain = f"chain {result.first_bad_chain}, " if result.first_bad_chain else ""
    return f"{chain}sequence number {result.first_bad_seq}"


@click.command("verify")
@reports_errors
def audit_verify_command() -> None:
    """Check the hash chain and the signed checkpoints: exit 0 when intact, 1 naming the first bad event."""
    code = echo_trail_verification(verify_with_checkpoints(services()))
    if code:
        raise SystemExit(code)


@click.command("checkpoint")
@reports_errors
def audit_checkpoint_command() -> None:
    """Sign the audit chain's current head (Ed25519)."""
    checkpoint = services().audit_admin.checkpoint(OPERATOR_CLI)
    if checkpoint is None:
        click.echo("the audit log is empty; nothing to sign")
        return
    click.echo(f"checkpoint at sequence number {checkpoint.seq}, hash {checkpoint.last_hash}, key {checkpoint.key_id}")


@click.command("export")
@click.option("--from", "from_text", default=None, help="First moment (ISO; UTC if no zone), inclusive.")
@click.option("--to", "to_text", default=None, help="Last moment (ISO; UTC if no zone), exclusive.")
@click.option("--from-seq", type=click.IntRange(1), default=None, help="First sequence number.")
@click.option("--to-seq", type=click.IntRange(1), default=None, help="Last sequence number.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None)
@reports_errors
def audit_export_command(
    from_text: str | None, to_text: str | None, from_seq: int | None, to_seq: int | None, out: Path | None
) -> None:
    """Export events and checkpoints of a range as JSON Lines, with the public keys to verify them offline."""
    export_range = ExportRange(_moment(from_text, "--from"), _moment(to_text, "--to"), from_seq, to_seq)
    lines = services().audit_admin.export(OPERATOR_CLI, export_range)
    if out is None:
        for line in lines:
            click.echo(line)
        return
    written = 0
    with out.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
            written += 1
    click.echo(f"wrote {written} lines to {out}", err=True)


def ed25519_valid(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification with a raw public key (what an inspector needs, and nothing secret)."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@click.command("verify-export")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@reports_errors
def audit_verify_export_command(file: Path) -> None:
    """Verify an export offline: its chain segment and checkpoint signatures, with the keys it carries."""
    require_regular_file(file, max_bytes=MAX_AUDIT_EXPORT_BYTES, what="audit export")
    try:
        with file.open(encoding="utf-8") as handle:
            verdict = verify_export(
                bounded_lines(handle, max_line_chars=MAX_AUDIT_EXPORT_LINE_CHARS, what="audit export"),
                ed25519_valid,
            )
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the audit export {file} is not UTF-8 text", code="file.not_text") from exc
    result = verdict.result
    click.echo(f"signing keys in the export: {printable(', '.join(sorted(verdict.key_ids))) or 'none'}")
    if not result.intact:
        click.echo(f"export BROKEN at {_position(result)}: {printable(result.problem or '')}", err=True)
        raise SystemExit(1)
    click.echo(
        f"export intact: events {verdict.first_seq}..{verdict.last_seq}, signed through {result.signed_through_seq}"
    )


audit_admin_commands: tuple[click.Command, ...] = (
    audit_checkpoint_command,
    audit_export_command,
    audit_verify_export_command,
)


# -- retention ----------------------------------------------------------------------------------


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what is due without deleting anything.")
@reports_errors
def purge_command(dry_run: bool) -> None:
    """Delete personal data that retention policy says is due, and audit what was deleted."""
    report = services().retention.purge(OPERATOR_CLI, dry_run=dry_run)
    verb = "due" if dry_run else "purged"
    click.echo(f"attempt ID numbers {verb}: {report.attempts}")
    click.echo(f"evidence frames {verb}:    {report.evidence}")
    click.echo(f"subscribers {verb}:        {report.subscribers}")
    if dry_run:
        click.echo("dry run: nothing was deleted", err=True)


# -- the self-scan ------------------------------------------------------------------------------


@click.group("privacy")
def privacy_group() -> None:
    """Privacy self-checks."""


def _needles(values: tuple[str, ...], needles_file: Path | None) -> list[str]:
    needles = [v for v in values if v.strip()]
    if needles_file is not None:
        text = read_input_text(needles_file, max_bytes=MAX_NEEDLES_FILE_BYTES, what="needles file")
        needles.extend(line.strip() for line in text.splitlines() if line.strip())
    return needles


@privacy_group.command("scan")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--needle", "needle_values", multiple=True, envvar=NEEDLES_ENV, help="Plaintext that must not appear.")
@click.option("--needles-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option(
    "--also", "extra", multiple=True, type=click.Path(exists=True, path_type=Path), help="More files/folders."
)
@click.option("--include-models", is_flag=True, help="Scan model files too, even those whose SHA-256 models.lock pins.")
@reports_errors
def privacy_scan_command(
    data_dir: Path,
    needle_values: tuple[str, ...],
    needles_file: Path | None,
    extra: tuple[Path, ...],
    include_models: bool,
) -> None:
    """Scan DATA_DIR (database, WAL, logs, everything) for images, embeddings and known identities.

    Exit 0 when clean, 1 listing each finding as FILE, OFFSET, KIND. Needles come from --needle (repeatable),
    --needles-file (one per line) and REALNAME_SCAN_NEEDLES (whitespace-separated). A file whose SHA-256 is a
    model file's pinned in models.lock is skipped (its weights look like embeddings, its bytes are the published
    model's); the count of skipped files is printed on stderr. An altered model file is scanned.
    """
    verified = frozenset() if include_models else _pinned_model_hashes()
    report = scan_report([data_dir, *extra], _needles(needle_values, needles_file), verified)
    if report.skipped:
        click.echo(f"skipped {len(report.skipped)} model files verified against {LOCK_FILE_NAME}", err=True)
    if not report.findings:
        click.echo("privacy scan clean")
        return
    for finding in report.findings:
        click.echo(finding.line())
    click.echo(f"privacy scan: {len(report.findings)} findings", err=True)
    sys.exit(1)


def _pinned_model_hashes() -> frozenset[str]:
    """The installed SHA-256 of every model file models.lock pins (ONNX, SFace and its builds, dlib's)."""
    lock = read_lock()
    return frozenset(lock.installed_hashes.values()) | {locked.installed_sha256 for locked in lock.dlib_files}
