"""Install-time builds of faster embedding models from the pinned ones: the int8 fr_feature, and the SFace models
with their PRelu rewritten (:func:`build_prelu_rewritten`).

Deterministic graph rewrites, applied by ``realname models fetch`` after the denormal flush (fr_feature) or after
the block-quantized weights are folded and a chip student's delta is applied (SFace):

1. :func:`rewrite_prelu` replaces every ``PRelu(y, a)`` by ``y·a + relu(y)·(1-a)``, which is the same function.
   ONNX Runtime runs PRelu with per-channel slopes slowly and outside its blocked convolution layout; the
   rewritten form runs about 20 % faster with outputs equal to float rounding.
2. :func:`quantize` turns the convolutions into int8 QDQ form (weights per output channel, symmetric;
   activations uint8 with the ranges committed in ``models.lock``), which ONNX Runtime fuses into int8
   convolutions. The few convolutions whose quantization moves the embedding most stay in float32.

The activation ranges and the float32 list are measured on real faces by ``benchmarks/face_quantize.py``
and written to ``models.lock`` together with the hash the built file must have, so installing needs no data
and the result is checked byte for byte like every other model file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

QDQ_OPSET = 13  # per-channel DequantizeLinear (``axis``) needs opset 13; the ops used are unchanged since 9
_UINT8_LEVELS = 255.0
_INT8_LIMIT = 127.0
_BIAS_LIMIT = float(2**30)  # half the int32 range
_MIN_SCALE = 1e-12  # weight scales below this are dead channels


@dataclass(frozen=True, slots=True)
class Int8Plan:
    """What to quantize: every Conv except ``float_convs``, with each activation's calibrated (min, max)."""

    float_convs: frozenset[str]
    activation_ranges: Mapping[str, tuple[float, float]]


def rewrite_prelu(model: Any) -> int:
    """Replace each PRelu node by ``Add(Mul(y, a), Mul(Relu(y), 1 - a))`` in place; returns how many."""
    from onnx import helper, numpy_helper

    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    nodes: list[Any] = []
    added: list[Any] = []
    count = 0
    for node in graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        value, slope_name = node.input
        slope = numpy_helper.to_array(initializers[slope_name]).astype(np.float32)
        stem = f"{node.output[0]}__prelu"
        added += [
            numpy_helper.from_array(slope, f"{stem}_slope"),
            numpy_helper.from_array((np.float32(1.0) - slope).astype(np.float32), f"{stem}_rest"),
        ]
        nodes += [
            helper.make_node("Relu", [value], [f"{stem}_relu"], name=f"{stem}_relu"),
            helper.make_node("Mul", [value, f"{stem}_slope"], [f"{stem}_neg"], name=f"{stem}_mul_slope"),
            helper.make_node("Mul", [f"{stem}_relu", f"{stem}_rest"], [f"{stem}_pos"], name=f"{stem}_mul_rest"),
            helper.make_node("Add", [f"{stem}_neg", f"{stem}_pos"], [node.output[0]], name=f"{stem}_add"),
        ]
        count += 1
    _replace_graph(graph, nodes, added)
    return count


def conv_names(model: Any) -> list[str]:
    """Names of the Conv nodes, in graph order."""
    return [node.name for node in model.graph.node if node.op_type == "Conv"]


def activation_tensors(model: Any, float_convs: Iterable[str] = ()) -> list[str]:
    """The tensors that need a calibrated range: data input and output of every Conv to be quantized."""
    skipped = set(float_convs)
    names: list[str] = []
    for node in model.graph.node:
        if node.op_type == "Conv" and node.name not in skipped:
            for name in (node.input[0], node.output[0]):
                if name not in names:
                    names.append(name)
    return names


def quantize(model: Any, plan: Int8Plan) -> int:
    """Rewrite the Convs not in ``plan.float_convs`` into QDQ int8 form in place; returns how many.

    Raises:
        ValueError: a needed activation range is missing or a Conv name in ``float_convs`` does not exist.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    unknown = plan.float_convs - set(conv_names(model))
    if unknown:
        raise ValueError(f"float_convs names no Conv of this model: {sorted(unknown)}")
    missing = [name for name in activation_tensors(model, plan.float_convs) if name not in plan.activation_ranges]
    if missing:
        raise ValueError(f"no calibrated range for {len(missing)} activations, e.g. {missing[0]!r}")
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    added: list[Any] = []
    dequantized: dict[str, tuple[str, float]] = {}  # float tensor -> (its QDQ output, its scale)
    nodes: list[Any] = []
    count = 0

    def activation_qdq(name: str, output: str, calibrated_as: str) -> tuple[list[Any], float]:
        scale, zero_point = _activation_params(plan.activation_ranges[calibrated_as])
        added.extend(
            [
                numpy_helper.from_array(np.array(scale, dtype=np.float32), f"{output}_scale"),
                numpy_helper.from_array(np.array(zero_point, dtype=np.uint8), f"{output}_zero"),
            ]
        )
        quantized = f"{output}_q"
        return [
            helper.make_node(
                "QuantizeLinear", [name, f"{output}_scale", f"{output}_zero"], [quantized], name=f"{output}_quant"
            ),
            helper.make_node(
                "DequantizeLinear", [quantized, f"{output}_scale", f"{output}_zero"], [output], name=f"{output}_dequant"
            ),
        ], scale

    for node in graph.node:
        if node.op_type != "Conv" or node.name in plan.float_convs:
            nodes.append(node)
            continue
        source = node.input[0]
        if source not in dequantized:
            qdq, scale = activation_qdq(source, f"{source}__dq", source)
            nodes += qdq
            dequantized[source] = (f"{source}__dq", scale)
        input_name, input_scale = dequantized[source]
        weights = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32)
        bias = None
        if len(node.input) > 2 and node.input[2]:
            bias = numpy_helper.to_array(initializers[node.input[2]]).astype(np.float64)
        weight_q, weight_scale = _quantize_weights(weights, bias, input_scale)
        stem = f"{node.name}__w"
        added += _constant_dequantized(nodes, stem, weight_q, weight_scale)
        inputs = [input_name, stem]
        if bias is not None:
            bias_scale = (np.float64(input_scale) * weight_scale.astype(np.float64)).astype(np.float32)
            bias_q = np.round(bias / bias_scale.astype(np.float64)).astype(np.int32)
            added += _constant_dequantized(nodes, f"{node.name}__b", bias_q, bias_scale)
            inputs.append(f"{node.name}__b")
        output = node.output[0]
        float_output = f"{output}__float"
        conv = helper.make_node("Conv", inputs, [float_output], name=node.name)
        conv.attribute.extend(node.attribute)
        qdq, scale = activation_qdq(float_output, output, output)
        nodes += [conv, *qdq]
        dequantized[output] = (output, scale)  # a following Conv reads the already dequantized output
        count += 1
    _replace_graph(graph, nodes, added)
    _set_opset(model, QDQ_OPSET)
    return count


def build_int8_feature(model_bytes: bytes, plan: Int8Plan) -> bytes:
    """The float32 fr_feature file → the int8 one (both rewrites), serialised."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    rewrite_prelu(model)
    quantize(model, plan)
    onnx.checker.check_model(model)
    serialised: bytes = model.SerializeToString()
    return serialised


def build_prelu_rewritten(model_bytes: bytes) -> bytes:
    """The float32 model with every PRelu rewritten (:func:`rewrite_prelu`): the same function, faster.

    On SFace (27 PRelu after its convolutions) PRelu took about half of a run; rewritten, a run took about half the
    time, with outputs within 1.1e-6 of the original's (docs/models/sface.md)."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    rewrite_prelu(model)
    onnx.checker.check_model(model)
    serialised: bytes = model.SerializeToString()
    return serialised


def measure_ranges(
    model: Any, inputs: Iterable[npt.NDArray[np.float32]], tensors: Sequence[str], *, quantile: float = 0.9
) -> dict[str, tuple[float, float]]:
    """A calibrated (low, high) range of each named tensor over the inputs (run on CPU with onnxruntime).

    Each input's minimum and maximum are taken, and the range is the ``quantile`` of the maxima and the
    ``1 - quantile`` of the minima: the rare input with an extreme activation then saturates instead of
    coarsening the steps for all others. On fr_feature 0.9 moved held-out embeddings least of min/max, the mean,
    and the 0.5 and 0.99 quantiles (benchmarks/README.md).
    """
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    present = {output.name for output in probe.graph.output}
    for name in tensors:
        if name not in present:
            probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    lows: dict[str, list[float]] = {name: [] for name in tensors}
    highs: dict[str, list[float]] = {name: [] for name in tensors}
    for tensor in inputs:
        values = session.run(list(tensors), {input_name: tensor})
        for name, value in zip(tensors, values, strict=True):
            lows[name].append(float(np.min(value)))
            highs[name].append(float(np.max(value)))
    if not tensors or not lows[tensors[0]]:
        raise ValueError("no calibration input or no tensor was given")
    return {
        name: (float(np.quantile(lows[name], 1.0 - quantile)), float(np.quantile(highs[name], quantile)))
        for name in tensors
    }


def _constant_dequantized(
    nodes: list[Any], name: str, quantized: npt.NDArray[Any], scale: npt.NDArray[np.float32]
) -> list[Any]:
    """Append a per-output-channel DequantizeLinear producing ``name``; returns the initializers it reads."""
    from onnx import helper, numpy_helper

    nodes.append(
        helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_scale", f"{name}_zero"], [name], axis=0, name=name)
    )
    return [
        numpy_helper.from_array(quantized, f"{name}_q"),
        numpy_helper.from_array(scale, f"{name}_scale"),
        numpy_helper.from_array(np.zeros(quantized.shape[0], dtype=quantized.dtype), f"{name}_zero"),
    ]


def _replace_graph(graph: Any, nodes: list[Any], added: list[Any]) -> None:
    """Set the graph's nodes, keep the initializers they still read, and add the new ones."""
    used = {name for node in nodes for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + added)


def _activation_params(value_range: tuple[float, float]) -> tuple[float, int]:
    low = min(float(value_range[0]), 0.0)
    high = max(float(value_range[1]), 0.0)
    scale = float(np.float32((high - low) / _UINT8_LEVELS)) or 1.0
    zero_point = int(np.clip(np.round(-low / scale), 0, 255))
    return scale, zero_point


def _quantize_weights(
    weights: npt.NDArray[np.float32], bias: npt.NDArray[np.float64] | None, input_scale: float
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """Per-output-channel symmetric int8 weights and their scales.

    A channel's scale is at least large enough that its int32 bias (scale ``input_scale × weight scale``) fits
    with room to spare. Many channels of fr_feature are dead (weights 0 or ~1e-38 after the denormal flush):
    their scale is set to 1, so their weights quantize to 0 and no scale is denormal, which would make ONNX
    Runtime's requantization several times slower.
    """
    peak = np.abs(weights.reshape(weights.shape[0], -1)).max(axis=1).astype(np.float64)
    scale = peak / _INT8_LIMIT
    if bias is not None:
        scale = np.maximum(scale, np.abs(bias) / (input_scale * _BIAS_LIMIT))
    scale = np.where(scale >= _MIN_SCALE, scale, 1.0).astype(np.float32)
    shaped = scale.reshape((-1,) + (1,) * (weights.ndim - 1))
    quantized = np.clip(np.round(weights / shaped), -_INT8_LIMIT, _INT8_LIMIT).astype(np.int8)
    return quantized, scale


def _set_opset(model: Any, version: int) -> None:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = max(entry.version, version)
