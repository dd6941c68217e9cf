"""What each live-capture quality gate costs in FNMR and saves in FMR, on held-out East Asian pairs.

    .venv/bin/python benchmarks/face_gates.py [--engine sface]     # seconds once face_accuracy.py has cached

The gates (``realname.domain.face.QualityGates``, checked by ``live_capture_reasons``) apply to the live side
only; an ID photo only needs a face. Pairs: ``faces_east_asian`` and the calibrate fold of
``faces_east_asian_calib`` (never used for training), same-source impostors, as ``face_accuracy.py`` forms them:
the realistic chip (JPEG 2000 at 1,024 and 1,536 bytes) of one image against the other image as the live capture,
and photo against photo (both orders: either side can be the live one). A pair whose live side fails a gate is
refused (a genuine pair refused counts as a false non-match; an impostor pair refused can never match).

For each gate configuration: the share of genuine pairs refused, FNMR and false matches at the shipped threshold,
and FNMR at FMR 1e-3 with the threshold recalibrated on the impostors that pass (what the gate buys if the
threshold were lowered to spend the FMR it saves). Configurations: no gate, every gate (shipped), each gate alone,
every gate but one, and sweeps of each limit. Face embeddings and qualities come from face_accuracy's cache
(``face_data.embed_set``), so run face_accuracy.py first for the engine.

Writes benchmarks/results/face_gates.{json,md}.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_accuracy import fnmr_at, git_commit, threshold_at
from face_data import QUALITY_FIELDS, add_data_arguments, embed_set, load_calib_set, load_sets, shared_data_missing
from face_data import write_results as write
from realname.adapters.vision.chip_photo import JPEG2000_1024, JPEG2000_1536
from realname.bootstrap.vision import build_face_engine, load_onnx_models
from realname.domain.face import FaceAnalysis, FaceQuality, QualityGates, ReferenceKind, live_capture_reasons
from realname.domain.policy import Policy

GATE_FIELDS = {
    "size": ("min_face_height_px",),
    "sharpness": ("min_sharpness",),
    "brightness": ("min_brightness", "max_brightness"),
    "frontal": ("max_abs_yaw_degrees", "max_abs_pitch_degrees"),
    "eyes": ("max_eyes_closed_probability",),
}
OFF = {
    "min_face_height_px": 0.0,
    "min_sharpness": 0.0,
    "min_brightness": 0.0,
    "max_brightness": 256.0,
    "max_abs_yaw_degrees": 1e9,
    "max_abs_pitch_degrees": 1e9,
    "max_eyes_closed_probability": 2.0,
}
SWEEPS: dict[str, list[dict[str, float]]] = {
    "size": [{"min_face_height_px": v} for v in (40.0, 60.0, 80.0, 100.0)],
    "sharpness": [{"min_sharpness": v} for v in (10.0, 25.0, 50.0, 100.0)],
    "frontal": [{"max_abs_yaw_degrees": v, "max_abs_pitch_degrees": v} for v in (20.0, 25.0, 30.0, 35.0, 45.0)],
    "eyes": [{"max_eyes_closed_probability": v} for v in (0.8, 0.9, 0.95, 0.99)],
    "brightness": [
        {"min_brightness": lo, "max_brightness": hi} for lo, hi in ((30.0, 225.0), (40.0, 215.0), (60.0, 200.0))
    ],
}


def quality_of(row: np.ndarray, one_face: bool = True) -> FaceAnalysis:
    """A FaceAnalysis carrying only what the gates read (the embedding is irrelevant here); without
    ``one_face`` other faces in the image are ignored (the main face is judged alone)."""
    values = dict(zip(QUALITY_FIELDS, row.tolist(), strict=True))
    faces = int(values.pop("face_count"))
    faces = faces if one_face else min(faces, 1)
    if faces == 0 or np.isnan(values["face_height_px"]):
        return FaceAnalysis(0)
    optional = {k: (None if np.isnan(v) else float(v)) for k, v in values.items()}
    quality = FaceQuality(
        face_height_px=float(values["face_height_px"]),
        sharpness=float(values["sharpness"]),
        brightness=float(values["brightness"]),
        yaw_degrees=optional["yaw_degrees"],
        pitch_degrees=optional["pitch_degrees"],
        eyes_closed_probability=optional["eyes_closed_probability"],
    )
    return FaceAnalysis(faces, quality, np.zeros(1, dtype=np.float32))


def passes(qualities: np.ndarray, gates: QualityGates, one_face: bool = True) -> np.ndarray:
    """Per image: does it pass ``gates`` as a live capture (one face unless not ``one_face``, every gate)?"""
    return np.array([not live_capture_reasons(quality_of(row, one_face), gates) for row in qualities])


def ordered_pairs(face_set: Any) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) masks over (reference i, live j): same person i != j; different people, same source."""
    identities = np.array([i.identity for i in face_set.images])
    sources = np.array([i.source for i in face_set.images])
    same = identities[:, None] == identities[None, :]
    return same & ~np.eye(len(identities), dtype=bool), ~same & (sources[:, None] == sources[None, :])


def evaluate(
    data: list[dict[str, Any]], gates: QualityGates, one_face: bool, thresholds: dict[str, float]
) -> dict[str, Any]:
    """Pooled over the sets, per condition: refused genuine share, FNMR / false matches at the shipped threshold,
    FNMR at FMR 1e-3 with the threshold recalibrated on the impostors that pass."""
    result: dict[str, Any] = {}
    for condition in ("photo", JPEG2000_1536.name, JPEG2000_1024.name):
        genuine_all, impostor_all, refused_all = [], [], []
        for item in data:
            live_ok = passes(item["quality"], gates, one_face)
            matrix = item["sims"][condition]
            live_ok_matrix = np.broadcast_to(live_ok[None, :], matrix.shape)
            genuine = np.where(live_ok_matrix, matrix, np.nan)[item["genuine"]]
            impostor = np.where(live_ok_matrix, matrix, np.nan)[item["impostor"]]
            genuine_all.append(genuine)
            impostor_all.append(impostor)
            refused_all.append(~live_ok_matrix[item["genuine"]])
        genuine = np.concatenate(genuine_all)
        impostor = np.concatenate(impostor_all)
        refused = np.concatenate(refused_all)
        threshold = thresholds["photo" if condition == "photo" else "chip"]
        result[condition] = {
            "genuine_pairs": len(genuine),
            "impostor_pairs": len(impostor),
            "refused_genuine": round(float(np.mean(refused)), 4),
            "fnmr_at_shipped": round(fnmr_at(genuine, threshold), 4),
            "false_matches_at_shipped": int(np.sum(impostor >= threshold)),
            "fnmr_at_fmr_1e-3": round(fnmr_at(genuine, threshold_at(impostor, 1e-3)), 4),
        }
    return result


def configurations() -> list[tuple[str, QualityGates, bool]]:
    """(label, gates, one face required). "no gate" still needs a face; "one face" is the multiple-faces refusal."""
    shipped = QualityGates()
    off_all = QualityGates(**OFF)
    before = dataclasses.replace(
        shipped,
        min_face_height_px=80.0,
        max_abs_yaw_degrees=25.0,
        max_abs_pitch_degrees=25.0,
        max_eyes_closed_probability=0.9,
    )
    configs = [
        ("no gate", off_all, False),
        ("every gate (shipped)", shipped, True),
        ("the gates until 2026-12-06 (80 px, 25°, eyes 0.9)", before, True),
        ("one face alone", off_all, True),
    ]
    for gate, fields in GATE_FIELDS.items():
        gates = dataclasses.replace(off_all, **{f: getattr(shipped, f) for f in fields})
        configs.append((f"{gate} alone", gates, False))
    configs.append(("every gate but one face", shipped, False))
    for gate, fields in GATE_FIELDS.items():
        configs.append((f"every gate but {gate}", dataclasses.replace(shipped, **{f: OFF[f] for f in fields}), True))
    for sweep in SWEEPS.values():
        for values in sweep:
            label = ", ".join(f"{k} {v:g}" for k, v in values.items())
            configs.append((f"every gate, {label}", dataclasses.replace(shipped, **values), True))
    return configs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="sface")
    add_data_arguments(parser)
    args = parser.parse_args()
    if shared_data_missing(args.shared):
        return 2
    sets = [s for s in load_sets(args.shared) if s.name == "faces_east_asian"]
    sets.append(load_calib_set(args.shared, fold="calibrate"))
    engine = build_face_engine(args.engine, args.models_dir, 1, Policy())
    detector = load_onnx_models(args.models_dir, 1)
    data = []
    for face_set in sets:
        by_chip = {
            c.name: embed_set(face_set, engine, detector, args.cache_dir, c) for c in (JPEG2000_1024, JPEG2000_1536)
        }
        photo = by_chip[JPEG2000_1536.name].photo
        quality = by_chip[JPEG2000_1536.name].photo_quality
        assert quality is not None
        genuine, impostor = ordered_pairs(face_set)
        sims = {"photo": photo @ photo.T, **{name: e.chip @ photo.T for name, e in by_chip.items()}}
        data.append({"set": face_set.name, "quality": quality, "sims": sims, "genuine": genuine, "impostor": impostor})
    thresholds = {k.value: engine.threshold_for(k) for k in ReferenceKind}
    rows = []
    for label, gates, one_face in configurations():
        evaluated = evaluate(data, gates, one_face, thresholds)
        rows.append({"configuration": label, "gates": dataclasses.asdict(gates), "one_face": one_face, **evaluated})
        print(label, file=sys.stderr)
    refusals: dict[str, float] = {}
    all_quality = np.concatenate([d["quality"] for d in data])
    with_face = all_quality[:, 0] > 0
    for gate, fields in GATE_FIELDS.items():
        only = dataclasses.replace(QualityGates(**OFF), **{f: getattr(QualityGates(), f) for f in fields})
        refusals[gate] = round(float(1 - np.mean(passes(all_quality[with_face], only, False))), 4)
    refusals["one face"] = round(float(np.mean(all_quality[with_face, 0] > 1)), 4)
    report = {
        "engine": args.engine,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": git_commit(),
        "thresholds": thresholds,
        "images": len(all_quality),
        "images_without_face": int(np.sum(all_quality[:, 0] == 0)),
        "share_of_images_refused_by_each_gate": refusals,
        "rows": rows,
    }
    write("face_gates", report, markdown(report))
    print(markdown(report))
    return 0


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Quality gates ({report['engine']}; {report['date']}, commit {report['commit']})",
        "",
        f"{report['images']} held-out East Asian images ({report['images_without_face']} without a face); share "
        "of images with a face that each gate alone refuses: "
        + ", ".join(f"{k} {v:.1%}" for k, v in report["share_of_images_refused_by_each_gate"].items()),
        "",
        "Per condition: genuine pairs refused by the gates · FNMR at the shipped threshold (refusals included) · "
        "false matches at the shipped threshold · FNMR at FMR 1e-3 (threshold recalibrated on the pairs the gates "
        "let through).",
        "",
        "| configuration | photo | j2k1536 chip | j2k1024 chip |",
        "| --- | --- | --- | --- |",
    ]
    for row in report["rows"]:
        cells = []
        for condition in ("photo", JPEG2000_1536.name, JPEG2000_1024.name):
            c = row[condition]
            cells.append(
                f"{c['refused_genuine']:.1%} · {c['fnmr_at_shipped']:.1%} · {c['false_matches_at_shipped']} · "
                f"{c['fnmr_at_fmr_1e-3']:.1%}"
            )
        lines.append(f"| {row['configuration']} | " + " | ".join(cells) + " |")
    first = report["rows"][0]
    lines += [
        "",
        "Pairs: "
        + ", ".join(
            f"{k} {first[k]['genuine_pairs']} genuine / {first[k]['impostor_pairs']} impostor"
            for k in ("photo", JPEG2000_1536.name, JPEG2000_1024.name)
        ),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
