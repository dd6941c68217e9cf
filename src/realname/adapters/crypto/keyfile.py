"""The local key file: versioned KEKs, the blind-index key, the audit-signing key and the token key.

One JSON document, readable and writable by its owner only (0600). Every change is written to a
temporary file, fsynced and renamed over the old one, under an advisory lock on a sibling ``.lock``
file, so a reader in another process sees either the old or the new file, never half of one.
Processes that keep the file loaded notice changes on disk (rotation from the CLI while ``serve``
runs) by its inode/mtime/size, checked on every wrap and on every miss of an unknown KEK version.

A retired KEK loses its key bytes: retirement is crypto-erasure, so only retire a version once every
stored data key has been re-wrapped under a newer one.

A file changed on disk is taken up only if it continues the loaded one (same bytes for every KEK both
hold, same blind-index key, every signing key still there): a file swapped for another one under a
running process is refused (``keys.mismatch``) instead of being used for new data. ``key_fingerprints``
gives what the database records of this material (:mod:`realname.app.key_custody`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from realname.adapters.crypto.signing import key_id_for
from realname.app.key_custody import KeyFingerprint, KeyKind, KeyMismatch
from realname.app.keys import KekStatus, KekVersion, SigningKeys, WrappedKey
from realname.domain.errors import Conflict, DependencyUnavailable

FILE_FORMAT = "realname-keys/1"
KEY_BYTES = 32
NONCE_BYTES = 12
MAX_KEY_FILE_BYTES = 1024 * 1024
_WRAP_AAD_PREFIX = b"realname/kek-wrap/v1|"
_FINGERPRINT_LABEL = b"realname/key-fingerprint/v1|"
BLIND_INDEX_KEY_ID = "current"

_Stamp = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class _Kek:
    version: int
    status: KekStatus
    created_at: datetime
    key: bytes | None = field(repr=False)
    retired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class _SigningKey:
    key_id: str
    public_key: bytes
    private_key: bytes | None = field(repr=False)
    created_at: datetime


@dataclass(frozen=True, slots=True)
class _KeyFile:
    current_kek: int
    keks: tuple[_Kek, ...]
    blind_index_key: bytes = field(repr=False)
    current_signing_key: str
    signing_keys: tuple[_SigningKey, ...]
    token_key: bytes = field(repr=False)

    def kek(self, version: int) -> _Kek | None:
        return next((k for k in self.keks if k.version == version), None)


def _now() -> datetime:
    return datetime.now(UTC)


def _new_signing_key(created_at: datetime) -> _SigningKey:
    private = Ed25519PrivateKey.generate()
    public_raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    private_raw = private.private_bytes_raw()
    return _SigningKey(key_id_for(public_raw), public_raw, private_raw, created_at)


def _new_key_file() -> _KeyFile:
    created_at = _now()
    signing = _new_signing_key(created_at)
    return _KeyFile(
        current_kek=1,
        keks=(_Kek(1, KekStatus.ACTIVE, created_at, AESGCM.generate_key(bit_length=256)),),
        blind_index_key=secrets.token_bytes(KEY_BYTES),
        current_signing_key=signing.key_id,
        signing_keys=(signing,),
        token_key=secrets.token_bytes(KEY_BYTES),
    )


def fingerprint(kind: KeyKind, key_id: str, secret: bytes) -> str:
    """Hex SHA-256 of a key under a label naming its kind and id: it identifies the key and reveals
    nothing of it (the keys are 32 random bytes)."""
    label = _FINGERPRINT_LABEL + kind.value.encode("ascii") + b"|" + key_id.encode("ascii") + b"|"
    return hashlib.sha256(label + secret).hexdigest()


def _fingerprints(contents: _KeyFile) -> tuple[KeyFingerprint, ...]:
    keks = tuple(
        KeyFingerprint(
            KeyKind.KEK,
            str(k.version),
            None if k.key is None else fingerprint(KeyKind.KEK, str(k.version), k.key),
        )
        for k in contents.keks
    )
    blind = KeyFingerprint(
        KeyKind.BLIND_INDEX,
        BLIND_INDEX_KEY_ID,
        fingerprint(KeyKind.BLIND_INDEX, BLIND_INDEX_KEY_ID, contents.blind_index_key),
    )
    signing = tuple(
        KeyFingerprint(KeyKind.SIGNING, s.key_id, fingerprint(KeyKind.SIGNING, s.key_id, s.public_key))
        for s in contents.signing_keys
    )
    return (*keks, blind, *signing)


def _continues(loaded: _KeyFile, changed: _KeyFile) -> bool:
    """Whether ``changed`` is ``loaded`` moved on by rotation, not another key file."""
    if changed.blind_index_key != loaded.blind_index_key:
        return False
    for kek in loaded.keks:
        other = changed.kek(kek.version)
        if other is None or (kek.key is not None and other.key is not None and other.key != kek.key):
            return False
    signing_ids = {s.key_id for s in changed.signing_keys}
    return all(s.key_id in signing_ids for s in loaded.signing_keys)


# --- the JSON format ---------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, expected_bytes: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise TypeError("expected a base64 string")
    data = base64.b64decode(text.encode("ascii"), validate=True)
    if expected_bytes is not None and len(data) != expected_bytes:
        raise ValueError("key of the wrong length")
    return data


def _time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise TypeError("expected an ISO timestamp")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment


def _encode(contents: _KeyFile) -> bytes:
    document = {
        "format": FILE_FORMAT,
        "kek": {
            "current": contents.current_kek,
            "versions": [
                {
                    "version": k.version,
                    "status": k.status.value,
                    "created_at": k.created_at.isoformat(),
                    "key": None if k.key is None else _b64(k.key),
                    "retired_at": None if k.retired_at is None else k.retired_at.isoformat(),
                }
                for k in contents.keks
            ],
        },
        "blind_index_key": _b64(contents.blind_index_key),
        "signing": {
            "current": contents.current_signing_key,
            "keys": [
                {
                    "key_id": s.key_id,
                    "public_key": _b64(s.public_key),
                    "private_key": None if s.private_key is None else _b64(s.private_key),
                    "created_at": s.created_at.isoformat(),
                }
                for s in contents.signing_keys
            ],
        },
        "token_key": _b64(contents.token_key),
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _decode_kek(item: Any) -> _Kek:
    status = KekStatus(item["status"])
    key = None if item["key"] is None else _unb64(item["key"], KEY_BYTES)
    if (status is KekStatus.ACTIVE) != (key is not None):
        raise ValueError("an active KEK has key bytes and a retired one has none")
    retired_at = None if item.get("retired_at") is None else _time(item["retired_at"])
    version = item["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("bad KEK version")
    return _Kek(version, status, _time(item["created_at"]), key, retired_at)


def _decode_signing_key(item: Any) -> _SigningKey:
    public = _unb64(item["public_key"], KEY_BYTES)
    private = None if item["private_key"] is None else _unb64(item["private_key"], KEY_BYTES)
    if item["key_id"] != key_id_for(public):
        raise ValueError("signing key id does not match its public key")
    if private is not None:
        derived = Ed25519PrivateKey.from_private_bytes(private).public_key()
        if derived.public_bytes(Encoding.Raw, PublicFormat.Raw) != public:
            raise ValueError("signing private key does not match its public key")
    return _SigningKey(item["key_id"], public, private, _time(item["created_at"]))


def _decode(raw: bytes) -> _KeyFile:
    document = json.loads(raw.decode("utf-8"))
    if document["format"] != FILE_FORMAT:
        raise ValueError("unknown key file format")
    keks = tuple(_decode_kek(item) for item in document["kek"]["versions"])
    signing = tuple(_decode_signing_key(item) for item in document["signing"]["keys"])
    contents = _KeyFile(
        current_kek=document["kek"]["current"],
        keks=keks,
        blind_index_key=_unb64(document["blind_index_key"], KEY_BYTES),
        current_signing_key=document["signing"]["current"],
        signing_keys=signing,
        token_key=_unb64(document["token_key"], KEY_BYTES),
    )
    current = contents.kek(contents.current_kek)
    if current is None or current.status is not KekStatus.ACTIVE:
        raise ValueError("the current KEK is missing or retired")
    if len({k.version for k in keks}) != len(keks):
        raise ValueError("duplicate KEK versions")
    current_signing = next((s for s in signing if s.key_id == contents.current_signing_key), None)
    if current_signing is None or current_signing.private_key is None:
        raise ValueError("the current signing key is missing")
    return contents


# --- the file on disk --------------------------------------------------------------------------


def _read(path: Path) -> tuple[_KeyFile, _Stamp]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError as exc:
        raise DependencyUnavailable(f"key file {path} does not exist", code="keys.missing") from exc
    except OSError as exc:
        raise DependencyUnavailable(f"key file {path} cannot be opened", code="keys.unreadable") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        # Checked on the descriptor before wrapping it: a directory cannot even be wrapped (IsADirectoryError).
        os.close(fd)
        raise DependencyUnavailable(f"key file {path} is not a regular file", code="keys.corrupt")
    with os.fdopen(fd, "rb") as handle:
        if info.st_mode & 0o077:
            raise DependencyUnavailable(
                f"key file {path} has permissions {stat.S_IMODE(info.st_mode):04o}; it must be 0600",
                code="keys.permissions",
            )
        raw = handle.read(MAX_KEY_FILE_BYTES + 1)
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise DependencyUnavailable(f"key file {path} is too large", code="keys.corrupt")
    try:
        contents = _decode(raw)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        # UnicodeDecodeError and json.JSONDecodeError are ValueErrors.
        raise DependencyUnavailable(f"key file {path} is corrupt", code="keys.corrupt") from exc
    return contents, (info.st_ino, info.st_mtime_ns, info.st_size)


def _stamp(path: Path) -> _Stamp | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (failing if it exists) and write ``data`` durably."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        _write_new(temporary, data)
        temporary.replace(path)
        _fsync_directory(path.parent)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise DependencyUnavailable(f"key file {path} cannot be written", code="keys.write_failed") from exc


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """An advisory inter-process lock on ``<key file>.lock`` for read-modify-write changes."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise DependencyUnavailable(f"cannot lock key file {path}", code="keys.write_failed") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def create_key_file(path: Path) -> None:
    """Create a new key file with fresh keys, mode 0600, in a 0700 folder if it has to make one.

    Raises:
        Conflict: ``keys.exists`` if a file is already there (it is never overwritten).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        _write_new(path, _encode(_new_key_file()))
        _fsync_directory(path.parent)
    except FileExistsError as exc:
        raise Conflict(f"key file {path} already exists", code="keys.exists") from exc
    except OSError as exc:
        raise DependencyUnavailable(f"key file {path} cannot be created", code="keys.write_failed") from exc


def key_file_bytes(path: Path) -> bytes:
    """The key file's contents, checked and re-encoded (what a backup keeps)."""
    contents, _ = _read(path)
    return _encode(contents)


def write_key_file(path: Path, raw: bytes) -> None:
    """Write ``raw`` (checked to be a key file) to a new file ``path``, mode 0600, durably.

    Raises:
        ValueError: ``raw`` is not a key file.
        FileExistsError: ``path`` exists.
    """
    try:
        contents = _decode(raw)
    except (KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise ValueError("not a key file") from exc
    _write_new(path, _encode(contents))
    _fsync_directory(path.parent)


def install_key_file(staged: Path, path: Path, *, replace_existing: bool) -> Path | None:
    """Put ``staged`` (beside ``path``) in ``path``'s place without ever deleting a key file. An existing
    file is moved to ``<path>.replaced-<UTC time>`` when ``replace_existing``; returns where.

    Raises:
        Conflict: ``keys.exists`` — ``path`` exists and ``replace_existing`` is False.
    """
    moved: Path | None = None
    with _exclusive_lock(path):
        if path.exists() or path.is_symlink():
            if not replace_existing:
                raise Conflict(f"key file {path} exists; pass --replace to move it aside", code="keys.exists")
            moved = path.with_name(f"{path.name}.replaced-{_now().strftime('%Y%m%dT%H%M%S%fZ')}")
            path.rename(moved)
        try:
            os.link(staged, path)  # never overwrites: fails if a key file appeared meanwhile
        except FileExistsError as exc:
            raise Conflict(f"key file {path} appeared meanwhile", code="keys.exists") from exc
        staged.unlink()
        _fsync_directory(path.parent)
    return moved


# --- the provider ------------------------------------------------------------------------------


class LocalKeyFileProvider:
    """``KeyProvider`` and ``SecretMaterial`` backed by the local key file. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._contents, self._loaded_stamp = _read(path)

    @property
    def path(self) -> Path:
        return self._path

    # KeyProvider

    def current_kek_version(self) -> int:
        return self._fresh().current_kek

    def kek_versions(self) -> tuple[KekVersion, ...]:
        return tuple(KekVersion(k.version, k.status, k.created_at) for k in self._fresh().keks)

    def wrap(self, data_key: bytes) -> WrappedKey:
        contents = self._fresh()
        kek = contents.kek(contents.current_kek)
        if kek is None or kek.key is None:  # _decode and rotate() rule this out
            raise DependencyUnavailable("the current KEK is missing", code="keys.corrupt")
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(kek.key).encrypt(nonce, data_key, _wrap_aad(kek.version))
        return WrappedKey(kek.version, nonce + sealed)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        kek = self._contents.kek(wrapped.kek_version)
        if kek is None:
            kek = self._fresh().kek(wrapped.kek_version)
        if kek is None:
            raise DependencyUnavailable(f"KEK version {wrapped.kek_version} is unknown", code="keys.unknown_version")
        if kek.key is None:
            raise DependencyUnavailable(f"KEK version {wrapped.kek_version} is retired", code="keys.retired_version")
        nonce, sealed = wrapped.ciphertext[:NONCE_BYTES], wrapped.ciphertext[NONCE_BYTES:]
        try:
            return AESGCM(kek.key).decrypt(nonce, sealed, _wrap_aad(kek.version))
        except (InvalidTag, ValueError) as exc:
            raise DependencyUnavailable("a wrapped data key failed to decrypt", code="crypto.decrypt_failed") from exc

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        if wrapped.kek_version == self.current_kek_version():
            return wrapped
        return self.wrap(self.unwrap(wrapped))

    def rotate(self) -> int:
        def change(contents: _KeyFile) -> _KeyFile:
            version = max(k.version for k in contents.keks) + 1
            kek = _Kek(version, KekStatus.ACTIVE, _now(), AESGCM.generate_key(bit_length=256))
            return replace(contents, current_kek=version, keks=(*contents.keks, kek))

        return self._change(change).current_kek

    def retire(self, version: int) -> None:
        def change(contents: _KeyFile) -> _KeyFile:
            kek = contents.kek(version)
            if kek is None:
                raise DependencyUnavailable(f"KEK version {version} is unknown", code="keys.unknown_version")
            if version == contents.current_kek:
                raise Conflict(f"KEK version {version} is current; rotate first", code="keys.retire_current")
            retired = _Kek(kek.version, KekStatus.RETIRED, kek.created_at, None, kek.retired_at or _now())
            return replace(contents, keks=tuple(retired if k.version == version else k for k in contents.keks))

        self._change(change)

    # SecretMaterial

    def blind_index_key(self) -> bytes:
        return self._contents.blind_index_key

    def signing_keys(self) -> SigningKeys:
        contents = self._fresh()
        current = next((s for s in contents.signing_keys if s.key_id == contents.current_signing_key), None)
        if current is None or current.private_key is None:  # _decode rules this out
            raise DependencyUnavailable("the current signing key is missing", code="keys.corrupt")
        return SigningKeys(current.private_key, {s.key_id: s.public_key for s in contents.signing_keys})

    def token_key(self) -> bytes:
        return self._contents.token_key

    # KeyFingerprintSource

    def key_fingerprints(self) -> tuple[KeyFingerprint, ...]:
        return _fingerprints(self._fresh())

    def rotate_signing_key(self) -> str:
        """A new Ed25519 key becomes current; older private keys are erased, their public keys kept."""

        def change(contents: _KeyFile) -> _KeyFile:
            fresh = _new_signing_key(_now())
            kept = tuple(replace(s, private_key=None) for s in contents.signing_keys)
            return replace(contents, current_signing_key=fresh.key_id, signing_keys=(*kept, fresh))

        return self._change(change).current_signing_key

    # internals

    def _fresh(self) -> _KeyFile:
        """The loaded contents, reloaded first if another process changed the file (by rotation only)."""
        if _stamp(self._path) != self._loaded_stamp:
            with self._lock:
                if _stamp(self._path) != self._loaded_stamp:
                    changed, stamp = _read(self._path)
                    if not _continues(self._contents, changed):
                        raise KeyMismatch(
                            f"key file {self._path} was replaced by a different one while in use; "
                            "put the original back (`realname keys restore BACKUP`)"
                        )
                    self._contents, self._loaded_stamp = changed, stamp
        return self._contents

    def _change(self, change: Callable[[_KeyFile], _KeyFile]) -> _KeyFile:
        with self._lock, _exclusive_lock(self._path):
            contents, _ = _read(self._path)
            if not _continues(self._contents, contents):
                raise KeyMismatch(f"key file {self._path} was replaced by a different one while in use")
            updated = change(contents)
            _replace_atomically(self._path, _encode(updated))
            self._contents, self._loaded_stamp = _read(self._path)
            return updated


def _wrap_aad(version: int) -> bytes:
    return _WRAP_AAD_PREFIX + str(version).encode("ascii")
