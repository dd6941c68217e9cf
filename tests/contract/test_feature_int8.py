"""The install-time int8 build of fr_feature: the PRelu rewrite keeps the function, the QDQ model stays close
to the float one and runs int8 convolutions in ONNX Runtime, dead channels get sane scales, the build is
byte-for-byte repeatable, and the installed model is that build."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from realname.adapters.vision.feature_int8 import (
    Int8Plan,
    activation_tensors,
    build_int8_feature,
    conv_names,
    measure_ranges,
    quantize,
    rewrite_prelu,
)
from realname.adapters.vision.models import read_lock, read_lock_document
from realname.domain.errors import DependencyUnavailable

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import helper, numpy_helper  # noqa: E402

Array = npt.NDArray[np.float32]


def _model(first_weights: Array | None = None, first_bias: Array | None = None) -> Any:
    """input 1×3×16×16 → Conv(8, 3×3, bias) → PRelu → Conv(8, depthwise) → PRelu → Conv(4, 1×1) → output."""
    rng = np.random.default_rng(7)
    weights = {
        "w1": first_weights if first_weights is not None else rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32),
        "b1": first_bias if first_bias is not None else rng.normal(0, 0.1, 8).astype(np.float32),
        "a1": np.linspace(-1.3, 1.2, 8, dtype=np.float32).reshape(8, 1, 1),
        "w2": rng.normal(0, 0.5, (8, 1, 3, 3)).astype(np.float32),
        "b2": rng.normal(0, 0.1, 8).astype(np.float32),
        "a2": np.linspace(0.9, -0.2, 8, dtype=np.float32).reshape(8, 1, 1),
        "w3": rng.normal(0, 0.5, (4, 8, 1, 1)).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], name="Conv_0", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("PRelu", ["c1", "a1"], ["p1"], name="PRelu_1"),
        helper.make_node(
            "Conv", ["p1", "w2", "b2"], ["c2"], name="Conv_2", pads=[1, 1, 1, 1], kernel_shape=[3, 3], group=8
        ),
        helper.make_node("PRelu", ["c2", "a2"], ["p2"], name="PRelu_3"),
        helper.make_node("Conv", ["p2", "w3"], ["output"], name="Conv_4", kernel_shape=[1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, 4, 16, 16])],
        [numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], ir_version=7)


def _inputs(count: int, seed: int = 1) -> list[Array]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 1, (1, 3, 16, 16)).astype(np.float32) for _ in range(count)]


def _run(model_bytes: bytes, tensor: Array, optimized_to: Path | None = None) -> Array:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if optimized_to is not None:
        options.optimized_model_filepath = str(optimized_to)
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    output: Array = session.run(None, {"input": tensor})[0]
    return output


def _plan(model: Any, float_convs: frozenset[str] = frozenset()) -> Int8Plan:
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    rewrite_prelu(rewritten)
    return Int8Plan(float_convs, measure_ranges(rewritten, _inputs(32, seed=2), activation_tensors(rewritten)))


def test_prelu_rewrite_computes_the_same_function() -> None:
    model = _model()
    original = model.SerializeToString()
    assert rewrite_prelu(model) == 2
    assert "PRelu" not in {node.op_type for node in model.graph.node}
    onnx.checker.check_model(model)
    for tensor in _inputs(5):
        np.testing.assert_allclose(_run(model.SerializeToString(), tensor), _run(original, tensor), atol=1e-5)


def test_int8_build_stays_close_to_float_and_runs_int8_convolutions(tmp_path: Path) -> None:
    model = _model()
    original = model.SerializeToString()
    built = build_int8_feature(original, _plan(model))
    quantized = onnx.load_from_string(built)
    assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in quantized.graph.node}
    assert max(entry.version for entry in quantized.opset_import if entry.domain in ("", "ai.onnx")) == 13
    for tensor in _inputs(5, seed=3):
        expected = _run(original, tensor).ravel()
        actual = _run(built, tensor, optimized_to=tmp_path / "optimized.onnx").ravel()
        cosine = float(expected @ actual / (np.linalg.norm(expected) * np.linalg.norm(actual)))
        assert cosine > 0.995
    optimized = onnx.load(str(tmp_path / "optimized.onnx"))
    assert "QLinearConv" in {node.op_type for node in optimized.graph.node}


def test_float_convs_stay_float() -> None:
    model = _model()
    built = onnx.load_from_string(build_int8_feature(model.SerializeToString(), _plan(model, frozenset({"Conv_2"}))))
    float_conv = next(node for node in built.graph.node if node.name == "Conv_2")
    assert float_conv.input[1] == "w2"  # the original float weights, not a DequantizeLinear output
    assert {"Conv_0__w", "Conv_4__w"} <= {node.name for node in built.graph.node}


def test_dead_channels_get_a_unit_scale_and_the_bias_fits_int32() -> None:
    rng = np.random.default_rng(5)
    weights = rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32)
    weights[1] = 0.0
    weights[2] = 1e-38  # as tiny as the dead channels of fr_feature after the denormal flush
    bias = rng.normal(0, 0.1, 8).astype(np.float32)
    bias[1] = 0.0
    bias[2] = 3.0
    model = _model(weights, bias)
    built = onnx.load_from_string(build_int8_feature(model.SerializeToString(), _plan(model)))
    tensors = {tensor.name: numpy_helper.to_array(tensor) for tensor in built.graph.initializer}
    scales = tensors["Conv_0__w_scale"]
    assert scales[1] == 1.0  # no weights, no bias
    assert np.all(scales >= 1e-12)  # nothing denormal or tiny, although channel 2's weights are 1e-38
    assert not tensors["Conv_0__w_q"][1:3].any()
    bias_q, bias_scale = tensors["Conv_0__b_q"], tensors["Conv_0__b_scale"]
    assert bias_q.dtype == np.int32
    np.testing.assert_allclose(bias_q * bias_scale, bias, rtol=1e-3, atol=1e-4)


def test_the_build_is_repeatable_byte_for_byte() -> None:
    model = _model()
    plan = _plan(model)
    assert build_int8_feature(model.SerializeToString(), plan) == build_int8_feature(model.SerializeToString(), plan)


def test_a_missing_range_or_an_unknown_conv_is_refused() -> None:
    model = _model()
    plan = _plan(model)
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    rewrite_prelu(rewritten)
    incomplete = Int8Plan(frozenset(), {k: v for k, v in plan.activation_ranges.items() if k != "c1"})
    with pytest.raises(ValueError, match="no calibrated range"):
        quantize(rewritten, incomplete)
    with pytest.raises(ValueError, match="Conv_99"):
        quantize(rewritten, Int8Plan(frozenset({"Conv_99"}), plan.activation_ranges))
    assert conv_names(rewritten) == ["Conv_0", "Conv_2", "Conv_4"]


def test_a_lock_with_a_malformed_int8_section_is_models_invalid(tmp_path: Path) -> None:
    document = read_lock_document()
    for entry in document["onnx"]["files"]:
        if "int8" in entry:
            del entry["int8"]["float_convs"]
    broken = tmp_path / "models.lock"
    broken.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(DependencyUnavailable) as caught:
        read_lock(broken)
    assert caught.value.code == "models.invalid"


def test_the_installed_embedding_model_is_the_pinned_int8_build(face_models_dir: Path) -> None:
    locked = read_lock().onnx_file("fr_feature.onnx")
    assert locked.int8 is not None
    installed = onnx.load(str(face_models_dir / "fr_feature.onnx"))
    op_types = {node.op_type for node in installed.graph.node}
    assert "PRelu" not in op_types and "QuantizeLinear" in op_types
    float_convs = {
        node.name for node in installed.graph.node if node.op_type == "Conv" and not node.input[1].endswith("__w")
    }
    assert float_convs == set(locked.int8.float_convs)


def test_ranges_take_a_quantile_of_the_per_input_extremes() -> None:
    model = _model()
    rewrite_prelu(model)
    inputs = _inputs(19, seed=4)
    inputs.append(inputs[0] * 50.0)  # one input with extreme activations
    tensors = activation_tensors(model)
    widest = measure_ranges(model, inputs, tensors, quantile=1.0)
    typical = measure_ranges(model, inputs, tensors, quantile=0.9)
    assert widest["input"][1] == pytest.approx(float(inputs[-1].max()))
    for name in tensors:
        assert typical[name][0] > widest[name][0] and typical[name][1] < widest[name][1]
    with pytest.raises(ValueError, match="no calibration input"):
        measure_ranges(model, [], tensors)
