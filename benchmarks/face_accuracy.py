"""Face-matching accuracy of the engines on ../shared/data/faces, faces_east_asian and the calibrate fold of
faces_east_asian_calib, per demographic group.

Conditions: photo vs photo, and simulated ID-card chip photo vs photo (102×126, decoded after compression: JPEG
2000 at 1,024 and 1,536 bytes, the realistic range, by default; ``--chips`` adds ``jpeg_q25``); single frame, and
multi-frame (the chip against the mean similarity of K other photos of the person — the fusion rule of
``realname.domain.face.fuse_similarities``). Impostor pairs are different people from the same source.

    .venv/bin/python benchmarks/face_accuracy.py                 # report (tens of minutes cold, seconds cached)
    .venv/bin/python benchmarks/face_accuracy.py --calibrate     # also rewrite thresholds in models.lock

Calibration, per reference kind: for each East Asian group (faces_east_asian and the calib fold) the threshold that
gives at most ``target_fmr`` on that group's same-source impostor pairs — chip-vs-photo pairs of the realistic chip
conditions for the ``chip`` threshold, photo-vs-photo pairs for the ``photo`` threshold; the highest (worst group)
is shipped. With fewer than 1/target_fmr impostor pairs in a group this is "just above the highest impostor
similarity seen", and the report states the 95 % upper bound on the FMR that the data can support.

Writes benchmarks/results/face_accuracy.{json,md} and face_det.png.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_data import (
    REPO_ROOT,
    RESULTS,
    Embeddings,
    FaceSet,
    add_data_arguments,
    embed_set,
    load_calib_set,
    load_sets,
    shared_data_missing,
    write_results,
)
from realname.adapters.vision.chip_photo import CHIP_CONDITIONS, JPEG2000_1024, JPEG2000_1536
from realname.adapters.vision.models import LOCK_FILE_NAME, read_lock_document
from realname.bootstrap.vision import build_face_engine, load_onnx_models
from realname.domain.face import ReferenceKind
from realname.domain.policy import Policy

FMR_POINTS = (1e-2, 1e-3, 1e-4)
MULTI_FRAME_K = 3
CALIBRATION_MARGIN = 1e-4
REALISTIC_CHIPS = (JPEG2000_1024.name, JPEG2000_1536.name)
EAST_ASIAN_SETS = ("faces_east_asian", "faces_east_asian_calib_calibrate")
KINDS = (ReferenceKind.CHIP.value, ReferenceKind.PHOTO.value)


def kind_of(condition: str) -> str:
    """The reference kind a condition is decided at: ``photo`` for photo vs photo, ``chip`` for every chip."""
    return ReferenceKind.PHOTO.value if condition == "photo" else ReferenceKind.CHIP.value


@dataclass
class Scores:
    genuine: np.ndarray
    impostor: np.ndarray
    impostor_groups: np.ndarray  # group name per impostor score ("mixed" when the two differ)
    genuine_groups: np.ndarray | None = None  # group of the person of each genuine score


def upper_bound_fmr(false_matches: int, pairs: int, confidence: float = 0.95) -> float:
    """Clopper–Pearson upper bound of the FMR given ``false_matches`` in ``pairs`` (bisection on the CDF)."""
    if pairs == 0:
        return 1.0
    alpha = 1.0 - confidence

    def cdf(p: float) -> float:
        total = 0.0
        for i in range(false_matches + 1):
            log_term = (
                math.lgamma(pairs + 1)
                - math.lgamma(i + 1)
                - math.lgamma(pairs - i + 1)
                + (i * math.log(p) if i else 0.0)
                + (pairs - i) * math.log1p(-p)
            )
            total += math.exp(log_term)
        return total

    low, high = false_matches / pairs, 1.0 - 1e-12
    for _ in range(80):
        middle = (low + high) / 2
        if cdf(middle) > alpha:
            low = middle
        else:
            high = middle
    return high


def threshold_at(impostor: np.ndarray, target_fmr: float) -> float:
    """Lowest threshold with observed FMR <= target (impostors without a face never match)."""
    valid = np.sort(impostor[~np.isnan(impostor)])[::-1]
    if len(valid) == 0:
        return -1.0
    allowed = math.floor(target_fmr * len(impostor))
    if allowed >= len(valid):
        return float(valid[-1])
    return float(valid[allowed]) + CALIBRATION_MARGIN


def fnmr_at(genuine: np.ndarray, threshold: float) -> float:
    return float(np.mean(~(genuine >= threshold))) if len(genuine) else float("nan")


def fmr_at(impostor: np.ndarray, threshold: float) -> tuple[float, int, int]:
    hits = int(np.sum(impostor >= threshold))
    return hits / max(len(impostor), 1), hits, len(impostor)


def auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    g = np.nan_to_num(genuine, nan=-2.0)
    i = np.nan_to_num(impostor, nan=-2.0)
    ranks = np.concatenate([g, i]).argsort().argsort() + 1
    rank_sum = ranks[: len(g)].sum()
    return float((rank_sum - len(g) * (len(g) + 1) / 2) / (len(g) * len(i)))


def pair_scores(face_set: FaceSet, emb: Embeddings, condition: str) -> Scores:
    images = face_set.images
    identities = np.array([i.identity for i in images])
    sources = np.array([i.source for i in images])
    groups = np.array([i.group for i in images])
    photo = emb.photo
    probe = emb.photo if condition == "photo" else emb.chip
    matrix = probe @ photo.T  # rows: probe (chip or photo), columns: photo; NaN rows stay NaN
    n = len(images)
    same_id = identities[:, None] == identities[None, :]
    same_source = sources[:, None] == sources[None, :]
    not_self = ~np.eye(n, dtype=bool)
    if condition == "photo":  # unordered pairs once
        upper = np.triu(np.ones((n, n), dtype=bool), 1)
        genuine_mask, impostor_mask = same_id & upper, ~same_id & same_source & upper
    else:  # both orders: chip of a vs photo of b, chip of b vs photo of a
        genuine_mask, impostor_mask = same_id & not_self, ~same_id & same_source
    pair_groups = np.where(groups[:, None] == groups[None, :], groups[:, None], "mixed")
    genuine_groups = np.broadcast_to(groups[:, None], (n, n))[genuine_mask]
    return Scores(matrix[genuine_mask], matrix[impostor_mask], pair_groups[impostor_mask], genuine_groups)


def multi_frame_scores(face_set: FaceSet, emb: Embeddings, k: int) -> tuple[Scores, np.ndarray]:
    """Chip of image i against the mean similarity of K other photos: genuine (same person) and impostor
    (every other person of the same source with at least K photos). Also returns the single-frame genuine
    similarities of the same chips against the first of those K photos, for a like-for-like comparison."""
    by_identity: dict[str, list[int]] = defaultdict(list)
    for index, image in enumerate(face_set.images):
        by_identity[image.identity].append(index)
    sim = emb.chip @ emb.photo.T
    genuine, single, impostor, impostor_groups = [], [], [], []
    for identity, members in by_identity.items():
        for probe in members:
            others = [m for m in members if m != probe][:k]
            if len(others) < k:
                continue
            genuine.append(float(np.mean(sim[probe, others])))
            single.append(float(sim[probe, others[0]]))
            probe_image = face_set.images[probe]
            for other_identity, other_members in by_identity.items():
                if other_identity == identity or len(other_members) < k:
                    continue
                if face_set.images[other_members[0]].source != probe_image.source:
                    continue
                impostor.append(float(np.mean(sim[probe, other_members[:k]])))
                other_group = face_set.images[other_members[0]].group
                impostor_groups.append(probe_image.group if other_group == probe_image.group else "mixed")
    return Scores(np.array(genuine), np.array(impostor), np.array(impostor_groups)), np.array(single)


def calibrate(
    all_scores: dict[tuple[str, str], Scores], target_fmr: float, kind: str
) -> tuple[float, list[dict[str, Any]]]:
    """The worst East Asian group's threshold for one reference kind: photo-vs-photo impostors for ``photo``,
    chip-vs-photo impostors of the realistic chips for ``chip``."""
    rows = []
    for (set_name, condition), scores in all_scores.items():
        if set_name not in EAST_ASIAN_SETS or kind_of(condition) != kind:
            continue
        if kind == ReferenceKind.CHIP.value and condition not in REALISTIC_CHIPS:
            continue
        for group in sorted(set(scores.impostor_groups.tolist()) | {"all"}):
            values = scores.impostor if group == "all" else scores.impostor[scores.impostor_groups == group]
            if len(values) == 0:
                continue
            rows.append(
                {
                    "set": set_name,
                    "condition": condition,
                    "group": group,
                    "impostor_pairs": len(values),
                    "threshold": threshold_at(values, target_fmr),
                }
            )
    worst = max(rows, key=lambda r: r["threshold"])
    return float(worst["threshold"]), rows


def write_lock_thresholds(engine_results: dict[str, dict[str, Any]], target_fmr: float) -> list[Path]:
    """Rewrite the thresholds of models.lock (the package-data file; the repository root links to it)."""
    document = read_lock_document(REPO_ROOT / "src" / "realname" / LOCK_FILE_NAME)
    for engine, result in engine_results.items():
        entry: dict[str, Any] = {"similarity": "cosine"}
        for kind in KINDS:
            calibration = result["calibration"][kind]
            worst = calibration["worst"]
            pairs = "photo-vs-photo" if kind == "photo" else f"chip-vs-photo ({' and '.join(REALISTIC_CHIPS)})"
            entry[kind] = {
                "threshold": round(calibration["threshold"], 4),
                "target_fmr": target_fmr,
                "calibration": (
                    f"benchmarks/face_accuracy.py --calibrate on {time.strftime('%Y-%m-%d')}: highest per-group "
                    f"threshold for FMR <= {target_fmr:g} over same-source {pairs} impostor pairs of every group of "
                    f"{' and '.join(EAST_ASIAN_SETS)}; worst group: {worst['set']}/{worst['condition']}/"
                    f"{worst['group']} ({worst['impostor_pairs']} impostor pairs)"
                ),
            }
        document["thresholds"][engine] = entry
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    targets = [REPO_ROOT / "src" / "realname" / LOCK_FILE_NAME]
    for path in targets:
        path.write_text(text, encoding="utf-8")
    return targets


def det_plot(curves: dict[str, dict[str, Scores]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for engine in curves.values() for k in engine})
    figure, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4.5), squeeze=False)
    for axis, key in zip(axes[0], keys, strict=True):
        for engine, by_key in curves.items():
            scores = by_key[key]
            # sorted scores and searchsorted, not one pass over every pair per threshold (~10^6 calib impostor pairs)
            impostor = np.sort(np.nan_to_num(scores.impostor, nan=-2))
            genuine = np.sort(np.nan_to_num(scores.genuine, nan=-2))
            thresholds = np.linspace(-1.0, 1.0, 2001)
            fmr = 1.0 - np.searchsorted(impostor, thresholds, side="left") / max(len(impostor), 1)
            fnmr = np.searchsorted(genuine, thresholds, side="left") / max(len(genuine), 1)
            keep = (fmr > 0) & (fnmr > 0)
            axis.loglog(fmr[keep], fnmr[keep], label=engine)
        axis.set_title(key)
        axis.set_xlabel("FMR (same-source impostors)")
        axis.set_ylabel("FNMR")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="sface,onnx,dlib")
    parser.add_argument(
        "--chips", default=",".join(REALISTIC_CHIPS), help="chip conditions (j2k1024, j2k1536, jpeg_q25)"
    )
    parser.add_argument("--calibrate", action="store_true", help="rewrite thresholds in models.lock")
    parser.add_argument("--target-fmr", type=float, default=Policy().target_fmr)
    add_data_arguments(parser)
    args = parser.parse_args()
    if shared_data_missing(args.shared):
        return 2
    sets = [*load_sets(args.shared), load_calib_set(args.shared, fold="calibrate")]
    chips = {c.name: c for c in CHIP_CONDITIONS if c.name in args.chips.split(",")}
    if not set(REALISTIC_CHIPS) <= set(chips):
        parser.error(f"--chips must include the realistic conditions {', '.join(REALISTIC_CHIPS)}")
    conditions = ("photo", *chips)
    detector = load_onnx_models(args.models_dir, 1)
    report: dict[str, Any] = {"target_fmr": args.target_fmr, "engines": {}}
    curves: dict[str, dict[str, Scores]] = {}
    for engine_name in args.engines.split(","):
        engine = build_face_engine(engine_name, args.models_dir, 1, Policy())
        started = time.perf_counter()
        embeddings = {
            (s.name, chip): embed_set(s, engine, detector, args.cache_dir, compression)
            for s in sets
            for chip, compression in chips.items()
        }
        print(f"{engine_name}: embeddings in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        all_scores = {
            (s.name, condition): pair_scores(
                s, embeddings[(s.name, REALISTIC_CHIPS[0] if condition == "photo" else condition)], condition
            )
            for s in sets
            for condition in conditions
        }
        calibration: dict[str, Any] = {}
        for kind in KINDS:
            threshold, calibration_rows = calibrate(all_scores, args.target_fmr, kind)
            worst = max(calibration_rows, key=lambda r: r["threshold"])
            calibration[kind] = {"threshold": threshold, "worst": worst, "groups": calibration_rows}
        shipped = {
            kind: calibration[kind]["threshold"] if args.calibrate else engine.threshold_for(ReferenceKind(kind))
            for kind in KINDS
        }
        engine_report: dict[str, Any] = {
            "calibration": calibration,
            "shipped_thresholds": shipped,
            "results": [],
            "group_fmr_at_shipped": [],
            "group_fnmr_at_shipped": [],
            "multi_frame": [],
        }
        curves[engine_name] = {}
        for (set_name, condition), scores in all_scores.items():
            curves[engine_name][f"{set_name} {condition}"] = scores
            at_shipped = shipped[kind_of(condition)]
            row: dict[str, Any] = {
                "set": set_name,
                "condition": condition,
                "genuine_pairs": len(scores.genuine),
                "impostor_pairs": len(scores.impostor),
                "auc": round(auc(scores.genuine, scores.impostor), 5),
                "fnmr_at_shipped": round(fnmr_at(scores.genuine, at_shipped), 4),
            }
            for target in FMR_POINTS:
                row[f"fnmr_at_fmr_{target:g}"] = round(
                    fnmr_at(scores.genuine, threshold_at(scores.impostor, target)), 4
                )
            engine_report["results"].append(row)
            assert scores.genuine_groups is not None
            for group in sorted(set(scores.genuine_groups.tolist())):
                genuine = scores.genuine[scores.genuine_groups == group]
                engine_report["group_fnmr_at_shipped"].append(
                    {
                        "set": set_name,
                        "condition": condition,
                        "group": group,
                        "genuine_pairs": len(genuine),
                        "fnmr": round(fnmr_at(genuine, at_shipped), 4),
                    }
                )
            for group in sorted(set(scores.impostor_groups.tolist())):
                values = scores.impostor[scores.impostor_groups == group]
                rate, hits, pairs = fmr_at(values, at_shipped)
                engine_report["group_fmr_at_shipped"].append(
                    {
                        "set": set_name,
                        "condition": condition,
                        "group": group,
                        "impostor_pairs": pairs,
                        "false_matches": hits,
                        "fmr": rate,
                        "fmr_upper_95": upper_bound_fmr(hits, pairs),
                    }
                )
        chip_threshold = shipped[ReferenceKind.CHIP.value]
        for face_set in sets:
            fused, single = multi_frame_scores(face_set, embeddings[(face_set.name, JPEG2000_1536.name)], MULTI_FRAME_K)
            fused_threshold = threshold_at(fused.impostor, 1e-3)
            engine_report["multi_frame"].append(
                {
                    "set": face_set.name,
                    "chip": JPEG2000_1536.name,
                    "k": MULTI_FRAME_K,
                    "probes": len(fused.genuine),
                    "fused_impostor_pairs": len(fused.impostor),
                    "fnmr_single_at_shipped": round(fnmr_at(single, chip_threshold), 4),
                    "fnmr_fused_at_shipped": round(fnmr_at(fused.genuine, chip_threshold), 4),
                    "fmr_fused_at_shipped": fmr_at(fused.impostor, chip_threshold)[0],
                    "fnmr_fused_at_fused_fmr_1e-3": round(fnmr_at(fused.genuine, fused_threshold), 4),
                }
            )
        report["engines"][engine_name] = engine_report
    write_results("face_accuracy", report, markdown(report))
    det_plot(curves, RESULTS / "face_det.png")
    if args.calibrate:
        for path in write_lock_thresholds(report["engines"], args.target_fmr):
            print(f"thresholds written to {path}", file=sys.stderr)
    print(markdown(report))
    return 0


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Face accuracy (target FMR {report['target_fmr']:g})", ""]
    for engine, result in report["engines"].items():
        lines += [f"## {engine}", ""]
        for kind in KINDS:
            cal = result["calibration"][kind]
            worst = cal["worst"]
            lines.append(
                f"- {kind} threshold {result['shipped_thresholds'][kind]:.4f} (calibrated {cal['threshold']:.4f}; "
                f"worst group {worst['set']}/{worst['condition']}/{worst['group']}, "
                f"{worst['impostor_pairs']} impostor pairs)"
            )
        lines += [
            "",
            "| set | condition | genuine | impostors | AUC | FNMR@1e-2 | FNMR@1e-3 | FNMR@1e-4 | FNMR at shipped |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in result["results"]:
            lines.append(
                f"| {row['set']} | {row['condition']} | {row['genuine_pairs']} | {row['impostor_pairs']} | "
                f"{row['auc']:.4f} | {row['fnmr_at_fmr_0.01']:.1%} | {row['fnmr_at_fmr_0.001']:.1%} | "
                f"{row['fnmr_at_fmr_0.0001']:.1%} | {row['fnmr_at_shipped']:.1%} |"
            )
        lines += ["", "FNMR of each group at the shipped threshold:", ""]
        lines += ["| set | condition | group | genuine pairs | FNMR |", "| --- | --- | --- | --- | --- |"]
        for row in result["group_fnmr_at_shipped"]:
            lines.append(
                f"| {row['set']} | {row['condition']} | {row['group']} | {row['genuine_pairs']} | {row['fnmr']:.1%} |"
            )
        lines += ["", "FMR each group gets at the shipped threshold (95 % upper bound):", ""]
        lines += [
            "| set | condition | group | impostors | false matches | FMR | upper 95 % |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in result["group_fmr_at_shipped"]:
            lines.append(
                f"| {row['set']} | {row['condition']} | {row['group']} | {row['impostor_pairs']} | "
                f"{row['false_matches']} | {row['fmr']:.2e} | {row['fmr_upper_95']:.2e} |"
            )
        lines += [
            "",
            f"Multi-frame ({JPEG2000_1536.name} chip vs mean of K={MULTI_FRAME_K} other photos of the person):",
            "",
        ]
        lines += [
            "| set | probes | FNMR single | FNMR fused | FMR fused at shipped | FNMR fused @ fused FMR 1e-3 |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in result["multi_frame"]:
            lines.append(
                f"| {row['set']} | {row['probes']} | {row['fnmr_single_at_shipped']:.1%} | "
                f"{row['fnmr_fused_at_shipped']:.1%} | {row['fmr_fused_at_shipped']:.2e} | "
                f"{row['fnmr_fused_at_fused_fmr_1e-3']:.1%} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
