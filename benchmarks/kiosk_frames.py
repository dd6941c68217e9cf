"""Kiosk frames: the K best frames of a real liveness clip, fused, against a realistic chip of the person.

    .venv/bin/python benchmarks/kiosk_frames.py [--engine sface]     # about 2 minutes

The app matches the frames the liveness check picked (``realname.domain.liveness.select_best_frames``: the most
frontal single-face frames, one per 1/K of the clip) with ``app.matching.match_frames`` (live gates, then the
MEAN of the similarities, ``domain.face.fuse_similarities``). Here K = 1, 2, 3 (shipped), 5 and every usable frame
sampled (the analyser's frames), fused by the mean similarity or by the mean embedding (L2-normalised).

References: ../shared/data/liveness has no ID photos, so a person's chip is made from the best frame of *another*
clip of the same person (fellway a/b, tvl nod/turn: the only people with two real clips — 4 genuine pairs per chip
condition), cut and compressed as ``chip_photo.simulate_chip_photo`` does (JPEG 2000 at 1,024 and 1,536 bytes).
Impostors: every person's chip against every real clip of another person (the LivePortrait driving clips count as
one person each; their identities are not documented). Counts this small show direction, not rates.
Writes benchmarks/results/kiosk_frames.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_accuracy import git_commit
from face_data import MODELS_DIR, SHARED_DATA, write_results
from realname.adapters.vision.chip_photo import JPEG2000_1024, JPEG2000_1536, simulate_chip_photo
from realname.adapters.vision.clips import PyAvClipDecoder
from realname.adapters.vision.images import PillowImageDecoder
from realname.adapters.vision.liveness_analyser import OnnxFrameAnalyser
from realname.app.liveness import AnalysedFrame
from realname.app.matching import DecodedImage, FaceEngine
from realname.bootstrap.vision import build_face_engine, load_onnx_models
from realname.domain.face import QualityGates, ReferenceKind, live_capture_reasons
from realname.domain.liveness import select_best_frames
from realname.domain.policy import Policy

# clip file (relative to the liveness folder) -> person
REAL_CLIPS = {
    "fellway_blink_eyesclosed_a.mp4": "fellway",
    "fellway_eyesclosed_b.mp4": "fellway",
    "tvl_real_nod_down_up.mp4": "tvl",
    "tvl_real_turnR_turnL.mp4": "tvl",
    "lestari_real_static.mp4": "lestari",
    "lp_d9_blinks_a.mp4": "lp_d9",
    "lp_d19_frontal_smiles_noaction.mp4": "lp_d19",
    "unlabelled/LivePortrait__d0.mp4": "lp_d0",
    "unlabelled/LivePortrait__d11.mp4": "lp_d11",
    "unlabelled/LivePortrait__d12.mp4": "lp_d12",
    "unlabelled/LivePortrait__d20.mp4": "lp_d20",
}
K_VALUES: tuple[int | None, ...] = (1, 2, 3, 5, None)  # None = every usable frame
CHIPS = (JPEG2000_1024, JPEG2000_1536)


def fused(chip: np.ndarray, embeddings: list[np.ndarray], rule: str) -> float:
    if rule == "mean score":
        return float(np.mean([float(np.dot(chip, e)) for e in embeddings]))
    mean = np.mean(embeddings, axis=0)
    return float(np.dot(chip, mean / np.linalg.norm(mean)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="sface")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument("--shared", type=Path, default=SHARED_DATA)
    args = parser.parse_args()
    root = args.shared / "liveness"
    if not root.is_dir():
        print(f"needs {root}", file=sys.stderr)
        return 2
    models = load_onnx_models(args.models_dir, 1)
    engine: FaceEngine = build_face_engine(args.engine, args.models_dir, 1, Policy())
    analyser = OnnxFrameAnalyser(models)
    clip_decoder = PyAvClipDecoder(max_bytes=Policy().max_upload_bytes, max_seconds=Policy().max_clip_seconds + 1.0)
    image_decoder = PillowImageDecoder()
    gates = QualityGates()
    threshold = engine.threshold_for(ReferenceKind.CHIP)

    clips: dict[str, dict[str, Any]] = {}
    for name, person in REAL_CLIPS.items():
        frames: list[AnalysedFrame] = list(analyser.analyse(clip_decoder.decode_video((root / name).read_bytes())))
        observations = [f.observation for f in frames]
        best_one = select_best_frames(observations, 1)
        chosen: dict[int | None, list[int]] = {
            k: [ref.index for ref in select_best_frames(observations, k if k else len(frames))] for k in K_VALUES
        }
        needed = sorted({i for indices in chosen.values() for i in indices})
        embedded: dict[int, np.ndarray] = {}
        refused = 0
        for index in needed:
            image = frames[index].image_rgb
            assert image is not None  # analyse() keeps every frame's pixels
            analysis = engine.analyse(DecodedImage(image))
            if live_capture_reasons(analysis, gates) or analysis.embedding is None:
                refused += 1
                continue
            embedded[index] = analysis.embedding
        reference_rgb = frames[best_one[0].index].image_rgb if best_one else None
        chips = {}
        if reference_rgb is not None:
            boxes = models.detect(reference_rgb)
            box = max(boxes, key=lambda b: b.height)
            for compression in CHIPS:
                png = simulate_chip_photo(reference_rgb, (box.x0, box.y0, box.x1, box.y1), compression=compression)
                chip = engine.analyse_id_photo(image_decoder.decode(png, max_pixels=10**6))
                chips[compression.name] = chip.embedding
        clips[name] = {
            "person": person,
            "frames": len(frames),
            "chosen": chosen,
            "embedded": embedded,
            "refused_frames": refused,
            "chips": chips,
        }
        print(f"{name}: {len(frames)} frames, {len(embedded)} embedded, {refused} refused by gates", file=sys.stderr)

    rows: list[dict[str, Any]] = []
    pairs: dict[str, list[dict[str, Any]]] = {}
    for compression in CHIPS:
        for rule in ("mean score", "mean embedding"):
            for k in K_VALUES:
                genuine: list[float] = []
                impostor: list[float] = []
                for reference_name, reference in clips.items():
                    chip = reference["chips"].get(compression.name)
                    if chip is None:
                        continue
                    for live_name, live in clips.items():
                        if live_name == reference_name:
                            continue
                        usable = [live["embedded"][i] for i in live["chosen"][k] if i in live["embedded"]]
                        score = fused(chip, usable, rule) if usable else float("nan")
                        (genuine if live["person"] == reference["person"] else impostor).append(score)
                        if live["person"] == reference["person"] and rule == "mean score":
                            pairs.setdefault(f"{compression.name} K={k or 'all'}", []).append(
                                {"chip_from": reference_name, "clip": live_name, "similarity": round(score, 4)}
                            )
                g, i = np.array(genuine), np.array(impostor)
                rows.append(
                    {
                        "chip": compression.name,
                        "rule": rule,
                        "k": k or "all",
                        "genuine_pairs": len(g),
                        "genuine_accepted": int(np.sum(g >= threshold)),
                        "genuine_similarities": [round(float(v), 4) for v in g],
                        "genuine_mean": round(float(np.nanmean(g)), 4),
                        "impostor_pairs": len(i),
                        "impostor_accepted": int(np.sum(i >= threshold)),
                        "impostor_max": round(float(np.nanmax(i)), 4),
                        "impostor_mean": round(float(np.nanmean(i)), 4),
                    }
                )
    report = {
        "engine": args.engine,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": git_commit(),
        "chip_threshold": threshold,
        "clips": {n: {k: c[k] for k in ("person", "frames", "refused_frames")} for n, c in clips.items()},
        "rows": rows,
        "genuine_pairs": pairs,
    }
    lines = [
        f"# Kiosk frames ({args.engine}; {report['date']}, commit {report['commit']}; chip threshold {threshold:.4f})",
        "",
        "| chip | fusion | K | genuine accepted | genuine similarities | impostors accepted | impostor max · mean |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['chip']} | {r['rule']} | {r['k']} | {r['genuine_accepted']}/{r['genuine_pairs']} | "
            f"{', '.join(f'{v:.3f}' for v in r['genuine_similarities'])} | "
            f"{r['impostor_accepted']}/{r['impostor_pairs']} | {r['impostor_max']:.3f} · {r['impostor_mean']:.3f} |"
        )
    markdown = "\n".join(lines) + "\n"
    write_results("kiosk_frames", report, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
