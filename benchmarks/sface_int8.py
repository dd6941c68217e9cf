"""Would an int8 SFace (built as the int8 fr_feature is, ``realname.adapters.vision.feature_int8``) keep its
accuracy, and how much faster is it? A measurement only: nothing is installed or pinned.

    .venv/bin/python benchmarks/sface_int8.py [--float-convs 0,5,10]     # 10–20 minutes (embeds faces_east_asian)

1. The installed ``sface.onnx`` (folded, PRelu rewritten); the crops the sface engine embeds (chip at scales
   0.9/1.1, live at 1.0, each with its mirror) of ../shared/data/faces (Western) images: even images calibrate the
   activation ranges (``measure_ranges``, 0.9 quantile), odd ones are held out.
2. Sensitivity: each Conv quantized alone, the held-out embeddings' change; for each ``--float-convs`` N the N most
   sensitive Convs stay float32, the others become int8 (``quantize``).
3. Per build: ms per run (1 thread, median of 100), held-out cosine to float32 (Western, East Asian), and FNMR on
   faces_east_asian (photo, JPEG 2000 chips at 1,024 / 1,536 bytes) at FMR 1e-3 / 1e-4 and at the shipped sface
   thresholds, against the float32 sface embedded the same way (``face_data.embed_set``, cached).

Writes benchmarks/results/sface_int8.{json,md}, and each build to the cache folder (``sface-int8-fN.onnx``, which
face_speed.py times).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_accuracy import fnmr_at, git_commit, pair_scores, threshold_at
from face_data import (
    MAX_PIXELS,
    add_data_arguments,
    embed_set,
    load_sets,
    shared_data_missing,
    simulated_chip,
    write_results,
)
from face_quantize import CropEngine
from realname.adapters.vision.chip_photo import JPEG2000_1024, JPEG2000_1536
from realname.adapters.vision.feature_int8 import (
    Int8Plan,
    activation_tensors,
    build_int8_feature,
    conv_names,
    measure_ranges,
)
from realname.adapters.vision.images import PillowImageDecoder
from realname.adapters.vision.onnx_engine import (
    SFACE_ID_PHOTO_ALIGNMENT_SCALES,
    SFACE_LIVE_ALIGNMENT_SCALES,
    OnnxFaceEngine,
)
from realname.adapters.vision.onnx_models import (
    Embedders,
    OnnxEmbedder,
    OnnxFaceModels,
    PixelScaling,
    session_options,
)
from realname.bootstrap.vision import build_face_engine, load_onnx_models
from realname.domain.face import ReferenceKind
from realname.domain.policy import Policy

Tensor = npt.NDArray[np.float32]


def sface_crops(paths: list[Path], models: OnnxFaceModels) -> list[list[npt.NDArray[np.uint8]]]:
    """Per image: the crops the sface engine embeds for its simulated chip (1,536 bytes) and for it as a live photo."""
    engine = CropEngine(models)
    engine._id_photo_scales = SFACE_ID_PHOTO_ALIGNMENT_SCALES
    engine._live_scales = SFACE_LIVE_ALIGNMENT_SCALES
    decoder = PillowImageDecoder()
    per_image = []
    for path in paths:
        decoded = decoder.decode(path.read_bytes(), max_pixels=MAX_PIXELS)
        chip = simulated_chip(decoded, models, decoder, JPEG2000_1536)
        if chip is None:
            continue
        engine.crops = []
        engine.analyse_all(chip, [decoded])
        if engine.crops:
            per_image.append(engine.crops)
    return per_image


def session(model_bytes: bytes) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(model_bytes, session_options(1), providers=["CPUExecutionProvider"])


def embed_all(model_bytes: bytes, tensors: list[Tensor]) -> npt.NDArray[np.float64]:
    runner = session(model_bytes)
    name = runner.get_inputs()[0].name
    rows = np.stack([runner.run(None, {name: t})[0][0] for t in tensors]).astype(np.float64)
    normalised: npt.NDArray[np.float64] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return normalised


def ms_per_run(model_bytes: bytes, tensor: Tensor, runs: int = 100) -> float:
    runner = session(model_bytes)
    name = runner.get_inputs()[0].name
    for _ in range(10):
        runner.run(None, {name: tensor})
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        runner.run(None, {name: tensor})
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


class _NamedEngine(OnnxFaceEngine):
    """The sface engine with another embedding network, under another name (so its embeddings cache apart)."""


def accuracy(engine: Any, face_set: Any, detector: OnnxFaceModels, cache_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by_chip = {c.name: embed_set(face_set, engine, detector, cache_dir, c) for c in (JPEG2000_1024, JPEG2000_1536)}
    for condition in ("photo", JPEG2000_1536.name, JPEG2000_1024.name):
        emb = by_chip[JPEG2000_1536.name if condition == "photo" else condition]
        scores = pair_scores(face_set, emb, condition)
        kind = ReferenceKind.PHOTO if condition == "photo" else ReferenceKind.CHIP
        out[condition] = {
            "fnmr_at_fmr_1e-3": round(fnmr_at(scores.genuine, threshold_at(scores.impostor, 1e-3)), 4),
            "fnmr_at_fmr_1e-4": round(fnmr_at(scores.genuine, threshold_at(scores.impostor, 1e-4)), 4),
            "fnmr_at_shipped": round(fnmr_at(scores.genuine, engine.threshold_for(kind)), 4),
            "false_matches_at_shipped": int(np.sum(scores.impostor >= engine.threshold_for(kind))),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--float-convs", default="0,10")
    add_data_arguments(parser)
    args = parser.parse_args()
    if shared_data_missing(args.shared):
        return 2
    import onnx

    float_bytes = (args.models_dir / "sface.onnx").read_bytes()
    model = onnx.load_from_string(float_bytes)
    detector = load_onnx_models(args.models_dir, 1)
    western, east = load_sets(args.shared)
    scaling = OnnxEmbedder(session(float_bytes), "sface", PixelScaling.RAW)
    crops = sface_crops([image.path for image in western.images], detector)
    calibration = [scaling.tensor(c) for per_image in crops[0::2] for c in per_image]
    held_out = [scaling.tensor(per_image[i % len(per_image)]) for i, per_image in enumerate(crops[1::2])]
    east_crops = sface_crops([image.path for image in east.images][::6], detector)
    east_held_out = [scaling.tensor(per_image[i % len(per_image)]) for i, per_image in enumerate(east_crops)]
    print(f"{len(calibration)} calibration crops, {len(held_out)} + {len(east_held_out)} held out", file=sys.stderr)
    ranges = measure_ranges(model, calibration, activation_tensors(model))
    reference = embed_all(float_bytes, held_out)
    east_reference = embed_all(float_bytes, east_held_out)
    convs = conv_names(model)
    sensitivity = {}
    for name in convs:
        alone = build_int8_feature(float_bytes, Int8Plan(frozenset(convs) - {name}, ranges))
        sensitivity[name] = 1.0 - float(np.mean(np.sum(reference * embed_all(alone, held_out), axis=1)))
    ranked = sorted(convs, key=lambda name: -sensitivity[name])
    print("sensitivity measured", file=sys.stderr)

    shipped = build_face_engine("sface", args.models_dir, 1, Policy())
    assert isinstance(shipped, OnnxFaceEngine)
    rows: list[dict[str, Any]] = [
        {
            "build": "float32 (installed)",
            "ms_per_run": round(ms_per_run(float_bytes, held_out[0]), 2),
            "cosine_western_mean_min": [1.0, 1.0],
            "cosine_east_asian_mean_min": [1.0, 1.0],
            "accuracy": accuracy(shipped, east, detector, args.cache_dir),
        }
    ]
    for count in (int(v) for v in args.float_convs.split(",")):
        float_convs = frozenset(ranked[:count])
        plan = Int8Plan(float_convs, {n: ranges[n] for n in activation_tensors(model, float_convs)})
        built = build_int8_feature(float_bytes, plan)
        args.cache_dir.mkdir(parents=True, exist_ok=True)
        (args.cache_dir / f"sface-int8-f{count}.onnx").write_bytes(built)  # for face_speed.py
        western_cos = np.sum(reference * embed_all(built, held_out), axis=1)
        east_cos = np.sum(east_reference * embed_all(built, east_held_out), axis=1)
        embedder = OnnxEmbedder(session(built), "sface", PixelScaling.RAW)
        engine = _NamedEngine(
            shipped.models,
            shipped.thresholds,
            name=f"sface-int8-f{count}",
            embedders=Embedders.same(embedder),
            id_photo_scales=SFACE_ID_PHOTO_ALIGNMENT_SCALES,
            live_scales=SFACE_LIVE_ALIGNMENT_SCALES,
        )
        rows.append(
            {
                "build": f"int8, {count} most sensitive Convs float32",
                "float_convs": sorted(float_convs, key=convs.index),
                "ms_per_run": round(ms_per_run(built, held_out[0]), 2),
                "cosine_western_mean_min": [round(float(western_cos.mean()), 4), round(float(western_cos.min()), 4)],
                "cosine_east_asian_mean_min": [round(float(east_cos.mean()), 4), round(float(east_cos.min()), 4)],
                "accuracy": accuracy(engine, east, detector, args.cache_dir),
            }
        )
        print(rows[-1]["build"], rows[-1]["ms_per_run"], file=sys.stderr)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": git_commit(),
        "convs": len(convs),
        "calibration_crops": len(calibration),
        "sensitivity_top": {name: round(sensitivity[name], 6) for name in ranked[:15]},
        "rows": rows,
    }
    lines = [
        f"# int8 SFace ({report['date']}, commit {report['commit']}; {len(convs)} Convs)",
        "",
        "| build | ms/run | cosine to float32 Western mean · min | East Asian mean · min | photo FNMR @1e-3 · @1e-4 · "
        "shipped | j2k1536 | j2k1024 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        acc = row["accuracy"]
        cells = [
            f"{acc[c]['fnmr_at_fmr_1e-3']:.1%} · {acc[c]['fnmr_at_fmr_1e-4']:.1%} · {acc[c]['fnmr_at_shipped']:.1%}"
            for c in ("photo", JPEG2000_1536.name, JPEG2000_1024.name)
        ]
        w, e = row["cosine_western_mean_min"], row["cosine_east_asian_mean_min"]
        lines.append(
            f"| {row['build']} | {row['ms_per_run']} | {w[0]} · {w[1]} | {e[0]} · {e[1]} | " + " | ".join(cells) + " |"
        )
    markdown = "\n".join(lines) + "\n"
    write_results("sface_int8", report, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
