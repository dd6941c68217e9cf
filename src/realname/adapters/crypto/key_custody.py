"""Key custody adapters: the key file as custody sees it, and passphrase-protected key-file backups.

A backup is the key material itself, so it is protected twice: the file is created 0600 and never
overwrites anything, and its contents are sealed with AES-256-GCM under a key derived from a
passphrase with scrypt (N=2^15, r=8, p=1; 32 MiB and about 0.1 s per attempt, so guessing is slow).
The header (format, KDF and its parameters, the key ids it holds) is authenticated as associated
data. Without the passphrase a backup is useless; without the backup (or the key file) the data is.

Format (JSON)::

    {"format": "realname-key-backup/1", "created_at": ..., "keys": ["kek:1", ...],
     "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": <b64>},
     "nonce": <b64>, "ciphertext": <b64 of the sealed key file>}
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from realname.adapters.crypto.blind_index import HmacBlindIndexer
from realname.adapters.crypto.envelope import EnvelopeCipher
from realname.adapters.crypto.keyfile import (
    LocalKeyFileProvider,
    install_key_file,
    key_file_bytes,
    write_key_file,
)
from realname.app.key_custody import KeyFingerprint
from realname.app.ports import BlindIndexer, FieldCipher
from realname.domain.errors import Conflict, DependencyUnavailable, InvalidInput

BACKUP_FORMAT = "realname-key-backup/1"
MIN_PASSPHRASE_CHARS = 12
MAX_BACKUP_BYTES = 4 * 1024 * 1024
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_NONCE_BYTES = 12


class KeyFileKeys:
    """``CustodyKeys`` over a loaded key file."""

    def __init__(self, provider: LocalKeyFileProvider) -> None:
        self._provider = provider

    def key_fingerprints(self) -> tuple[KeyFingerprint, ...]:
        return self._provider.key_fingerprints()

    def cipher(self) -> FieldCipher:
        return EnvelopeCipher(self._provider)

    def blind_indexer(self) -> BlindIndexer:
        return HmacBlindIndexer(self._provider.blind_index_key())


class StagedKeyFile(KeyFileKeys):
    """``StagedKeys``: a backup's key file written beside the key file (0600), not yet in place."""

    def __init__(self, staged: Path, key_file: Path) -> None:
        super().__init__(LocalKeyFileProvider(staged))
        self._staged = staged
        self._key_file = key_file

    def install(self, *, replace_existing: bool) -> Path | None:
        return install_key_file(self._staged, self._key_file, replace_existing=replace_existing)

    def discard(self) -> None:
        self._staged.unlink(missing_ok=True)


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _header_aad(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _not_a_backup(source: Path) -> InvalidInput:
    return InvalidInput(f"{source} is not a realname key backup", code="keys.backup_invalid")


class KeyFileBackups:
    """``KeyBackups`` for the key file at ``key_file``."""

    def __init__(self, key_file: Path, *, scrypt_n: int = SCRYPT_N) -> None:
        self._key_file = key_file
        self._scrypt_n = scrypt_n

    def write(self, destination: Path, passphrase: str) -> None:
        _require_strong(passphrase)
        raw = key_file_bytes(self._key_file)
        keys = [f"{k.kind.value}:{k.key_id}" for k in LocalKeyFileProvider(self._key_file).key_fingerprints()]
        salt, nonce = secrets.token_bytes(_SALT_BYTES), secrets.token_bytes(_NONCE_BYTES)
        header: dict[str, Any] = {
            "format": BACKUP_FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "keys": keys,
            "kdf": {"name": "scrypt", "n": self._scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
            "nonce": _b64(nonce),
        }
        sealed = AESGCM(_derive(passphrase, salt, self._scrypt_n, SCRYPT_R, SCRYPT_P)).encrypt(
            nonce, raw, _header_aad(header)
        )
        document = json.dumps({**header, "ciphertext": _b64(sealed)}, indent=2) + "\n"
        try:
            fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError as exc:
            raise Conflict(
                f"{destination} exists; a backup never overwrites a file", code="keys.backup_exists"
            ) from exc
        except OSError as exc:
            raise InvalidInput(f"cannot create {destination}", code="keys.backup_unwritable") from exc
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(document)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            destination.unlink(missing_ok=True)
            raise InvalidInput(f"cannot write {destination}", code="keys.backup_unwritable") from exc

    def stage(self, source: Path, passphrase: str) -> StagedKeyFile:
        raw = self._open(source, passphrase)
        self._key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        staged = self._key_file.with_name(f".{self._key_file.name}.restore-{secrets.token_hex(6)}")
        try:
            write_key_file(staged, raw)
        except ValueError as exc:
            raise _not_a_backup(source) from exc
        except OSError as exc:
            raise DependencyUnavailable(f"cannot write beside {self._key_file}", code="keys.write_failed") from exc
        try:
            return StagedKeyFile(staged, self._key_file)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise

    def _open(self, source: Path, passphrase: str) -> bytes:
        try:
            with source.open("rb") as handle:
                data = handle.read(MAX_BACKUP_BYTES + 1)
        except OSError as exc:
            raise InvalidInput(f"cannot read {source}", code="keys.backup_invalid") from exc
        if len(data) > MAX_BACKUP_BYTES:
            raise _not_a_backup(source)
        try:
            document = json.loads(data.decode("utf-8"))
            if not isinstance(document, dict) or document.get("format") != BACKUP_FORMAT:
                raise ValueError("unknown format")
            sealed = base64.b64decode(document.pop("ciphertext"), validate=True)
            kdf = document["kdf"]
            n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
            if kdf["name"] != "scrypt" or not (2**14 <= n <= 2**20 and 1 <= r <= 16 and 1 <= p <= 4):
                raise ValueError("unsupported key derivation")
            salt = base64.b64decode(kdf["salt"], validate=True)
            nonce = base64.b64decode(document["nonce"], validate=True)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise _not_a_backup(source) from exc
        try:
            return AESGCM(_derive(passphrase, salt, n, r, p)).decrypt(nonce, sealed, _header_aad(document))
        except (InvalidTag, ValueError) as exc:
            raise InvalidInput(
                "the passphrase is wrong or the backup is damaged", code="keys.backup_passphrase"
            ) from exc


def _require_strong(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise InvalidInput(
            f"a backup passphrase has at least {MIN_PASSPHRASE_CHARS} characters", code="keys.passphrase_weak"
        )
