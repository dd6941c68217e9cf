"""Face-matching accuracy of the engines on ../shared/data/faces, faces_east_asian and the calibrate fold of
faces_east_asian_calib, per demographic group.

Conditions: photo vs photo, and simulated ID-card chip photo vs photo (102×126, decoded after compression: JPEG
2000 at 1,024 and 1,536 bytes, the realistic range, by default; ``--chips`` adds ``jpeg_q25``); single frame, and
multi-frame (the chip against the mean similarity of K other photos of the person — the fusion rule of
``realname.domain.face.fuse_similarities``). Impostor pairs are different people from the same source.

    .venv/bin/python benchmarks/face_accuracy.py                 # report (tens of minutes cold, seconds cached)
    .venv/bin/python benchmarks/face_accuracy.py --calibrate     # also rewrite thresholds in models.lock

Calibration, per reference kind: for each East Asian group (faces_east_asian and the calib fold, and each set's
groups pooled) the threshold for ``target_fmr`` on that group's same-source impostor pairs — chip-vs-photo pairs of
the realistic chip conditions for the ``chip`` threshold, photo-vs-photo pairs for the ``photo`` threshold; the
highest (worst group) is shipped. A group threshold is never the single highest impostor: it is the empirical
quantile when at least 10 impostors lie above it, else an exponential tail fitted to the group's 25 highest
impostors (``face_metrics.threshold_for_fmr``). The report gives each group's FMR and FNMR at the shipped threshold
with 95 % identity-bootstrap intervals (identities resampled, not pairs; ``face_metrics``) and, for the FMR, the
Clopper–Pearson upper bound that treats pairs as independent.

Writes benchmarks/results/face_accuracy.{json,md} and face_det.png (``--stem`` renames them: a slow engine measured
on faces_east_asian alone, ``--sets faces_east_asian --stem face_accuracy_dlib``, keeps its own files).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
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
from face_metrics import bootstrap_fmr_interval, bootstrap_fnmr_interval, threshold_for_fmr
from realname.adapters.vision.chip_photo import CHIP_CONDITIONS, JPEG2000_1024, JPEG2000_1536
from realname.adapters.vision.models import LOCK_FILE_NAME, read_lock_document
from realname.bootstrap.vision import build_face_engine, load_onnx_models
from realname.domain.face import ReferenceKind
from realname.domain.policy import Policy

FMR_POINTS = (1e-2, 1e-3, 1e-4)
MULTI_FRAME_KS = (1, 2, 3, 5)
MULTI_FRAME_RULES = ("mean score", "mean embedding")
CALIBRATION_MARGIN = 1e-4
REALISTIC_CHIPS = (JPEG2000_1024.name, JPEG2000_1536.name)
EAST_ASIAN_SETS = ("faces_east_asian", "faces_east_asian_calib_calibrate")
KINDS = (ReferenceKind.CHIP.value, ReferenceKind.PHOTO.value)


def measured(set_name: str, condition: str) -> bool:
    """The calib set (only for calibration and the served population's FMR) is measured on the realistic chips and
    photos only; the milder JPEG q25 row is a reference on the other sets."""
    return condition in ("photo", *REALISTIC_CHIPS) or not set_name.startswith("faces_east_asian_calib")


def kind_of(condition: str) -> str:
    """The reference kind a condition is decided at: ``photo`` for photo vs photo, ``chip`` for every chip."""
    return ReferenceKind.PHOTO.value if condition == "photo" else ReferenceKind.CHIP.value


@dataclass
class Scores:
    genuine: np.ndarray
    impostor: np.ndarray
    impostor_groups: np.ndarray  # group name per impostor score ("mixed" when the two differ)
    genuine_groups: np.ndarray | None = None  # group of the person of each genuine score
    genuine_identities: np.ndarray | None = None  # identity of each genuine score
    impostor_identities: np.ndarray | None = None  # impostors × 2: the two people of each impostor pair


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
    rows, columns = np.nonzero(impostor_mask)
    return Scores(
        matrix[genuine_mask],
        matrix[impostor_mask],
        pair_groups[impostor_mask],
        genuine_groups,
        np.broadcast_to(identities[:, None], (n, n))[genuine_mask],
        np.stack([identities[rows], identities[columns]], axis=1),
    )


def multi_frame_scores(
    face_set: FaceSet, emb: Embeddings, k: int, rule: str = "mean score"
) -> tuple[Scores, np.ndarray]:
    """Chip of image i against K other photos fused (``rule``: the mean similarity, as ``fuse_similarities``, or
    the similarity to their mean embedding): genuine (same person) and impostor (every other person of the same
    source with at least K photos). Also returns the single-frame genuine similarities of the same chips against
    the first of those K photos, for a like-for-like comparison."""
    by_identity: dict[str, list[int]] = defaultdict(list)
    for index, image in enumerate(face_set.images):
        by_identity[image.identity].append(index)
    sim = emb.chip @ emb.photo.T
    if rule == "mean embedding":
        return _mean_embedding_scores(face_set, emb, k, by_identity, sim)
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


def group_fnmr_rows(set_name: str, condition: str, scores: Scores, threshold: float) -> list[dict[str, Any]]:
    """FNMR of each group (and all pooled) at ``threshold``, with its identity-bootstrap 95 % interval."""
    assert scores.genuine_groups is not None and scores.genuine_identities is not None
    rows = []
    for group in [*sorted(set(scores.genuine_groups.tolist())), "all"]:
        chosen = np.ones(len(scores.genuine), bool) if group == "all" else scores.genuine_groups == group
        genuine = scores.genuine[chosen]
        low, high = bootstrap_fnmr_interval(genuine, scores.genuine_identities[chosen], threshold)
        rows.append(
            {
                "set": set_name,
                "condition": condition,
                "group": group,
                "genuine_pairs": len(genuine),
                "identities": len(set(scores.genuine_identities[chosen].tolist())),
                "fnmr": round(fnmr_at(genuine, threshold), 4),
                "fnmr_ci95": [round(low, 4), round(high, 4)],
            }
        )
    return rows


def group_fmr_rows(set_name: str, condition: str, scores: Scores, threshold: float) -> list[dict[str, Any]]:
    """FMR of each group (``mixed``: pairs across groups of one source; ``all``: every same-source pair) at
    ``threshold``, with its identity-bootstrap 95 % interval and the pairs-independent upper bound."""
    assert scores.impostor_identities is not None
    rows = []
    for group in [*sorted(set(scores.impostor_groups.tolist())), "all"]:
        chosen = np.ones(len(scores.impostor), bool) if group == "all" else scores.impostor_groups == group
        values = scores.impostor[chosen]
        rate, hits, pairs = fmr_at(values, threshold)
        people = scores.impostor_identities[chosen]
        low, high = bootstrap_fmr_interval(values, people, threshold)
        person_pairs = {tuple(sorted(pair)) for pair in people.tolist()}
        matched_pairs = {tuple(sorted(pair)) for pair in people[values >= threshold].tolist()}
        rows.append(
            {
                "set": set_name,
                "condition": condition,
                "group": group,
                "impostor_pairs": pairs,
                "identities": len(set(scores.impostor_identities[chosen].ravel().tolist())),
                "false_matches": hits,
                "fmr": rate,
                "fmr_ci95": [low, high],
                "fmr_upper_95": upper_bound_fmr(hits, pairs),
                "person_pairs": len(person_pairs),
                "person_pairs_matched": len(matched_pairs),
                # the share of pairs of people with a false match: each pair of people counted once (a conservative
                # unit when one pair of look-alikes makes many image pairs match)
                "person_pair_upper_95": upper_bound_fmr(len(matched_pairs), len(person_pairs)),
            }
        )
    return rows


def _mean_embedding_scores(
    face_set: FaceSet, emb: Embeddings, k: int, by_identity: dict[str, list[int]], sim: np.ndarray
) -> tuple[Scores, np.ndarray]:
    """``multi_frame_scores`` with the K photos' embeddings averaged (L2-normalised) before the cosine."""

    def mean_of(indices: list[int]) -> np.ndarray:
        mean: np.ndarray = np.mean(emb.photo[indices], axis=0)
        normalised: np.ndarray = mean / np.linalg.norm(mean)
        return normalised

    genuine, single, impostor, impostor_groups = [], [], [], []
    for identity, members in by_identity.items():
        for probe in members:
            others = [m for m in members if m != probe][:k]
            if len(others) < k:
                continue
            genuine.append(float(emb.chip[probe] @ mean_of(others)))
            single.append(float(sim[probe, others[0]]))
            probe_image = face_set.images[probe]
            for other_identity, other_members in by_identity.items():
                if other_identity == identity or len(other_members) < k:
                    continue
                if face_set.images[other_members[0]].source != probe_image.source:
                    continue
                impostor.append(float(emb.chip[probe] @ mean_of(other_members[:k])))
                other_group = face_set.images[other_members[0]].group
                impostor_groups.append(probe_image.group if other_group == probe_image.group else "mixed")
    return Scores(np.array(genuine), np.array(impostor), np.array(impostor_groups)), np.array(single)


def calibrate(
    all_scores: dict[tuple[str, str], Scores], target_fmr: float, kind: str
) -> tuple[float, list[dict[str, Any]]]:
    """The worst East Asian group's threshold for one reference kind: photo-vs-photo impostors for ``photo``,
    chip-vs-photo impostors of the realistic chips for ``chip``."""
    return calibrate_groups(
        {
            (set_name, condition): scores
            for (set_name, condition), scores in all_scores.items()
            if kind_of(condition) == kind and (kind != ReferenceKind.CHIP.value or condition in REALISTIC_CHIPS)
        },
        target_fmr,
    )


def calibrate_groups(
    all_scores: dict[tuple[str, str], Scores], target_fmr: float
) -> tuple[float, list[dict[str, Any]]]:
    """The highest of the FMR-``target_fmr`` thresholds of every impostor group (and of each set × condition as a
    whole) of the East Asian sets among ``all_scores``, with a row per group."""
    rows = []
    for (set_name, condition), scores in all_scores.items():
        if set_name not in EAST_ASIAN_SETS:
            continue
        for group in sorted(set(scores.impostor_groups.tolist()) | {"all"}):
            values = scores.impostor if group == "all" else scores.impostor[scores.impostor_groups == group]
            if len(values) == 0:
                continue
            estimate = threshold_for_fmr(values, target_fmr)
            rows.append(
                {
                    "set": set_name,
                    "condition": condition,
                    "group": group,
                    "impostor_pairs": len(values),
                    "threshold": estimate.threshold,
                    "method": estimate.method,
                    "impostors_above": estimate.above,
                }
            )
    worst = max(rows, key=lambda r: r["threshold"])
    return float(worst["threshold"]), rows


def write_lock_thresholds(engine_results: dict[str, dict[str, Any]], target_fmr: float) -> list[Path]:
    """Rewrite the thresholds of models.lock (the package-data file; the repository root links to it)."""
    document = read_lock_document(REPO_ROOT / "src" / "realname" / LOCK_FILE_NAME)
    commit = git_commit()
    for engine, result in engine_results.items():
        # Kinds calibrated elsewhere (the printed portrait's: benchmarks/printed_calibration.py) are kept.
        entry: dict[str, Any] = {**document["thresholds"].get(engine, {}), "similarity": "cosine"}
        for kind in KINDS:
            calibration = result["calibration"][kind]
            worst = calibration["worst"]
            pairs = "photo-vs-photo" if kind == "photo" else f"chip-vs-photo ({' and '.join(REALISTIC_CHIPS)})"
            entry[kind] = {
                "threshold": round(calibration["threshold"], 4),
                "target_fmr": target_fmr,
                "calibration": (
                    f"benchmarks/face_accuracy.py --calibrate on {time.strftime('%Y-%m-%d')} (commit {commit}): "
                    f"highest per-group threshold for FMR <= {target_fmr:g} over same-source {pairs} impostor pairs "
                    f"of every group of {' and '.join(result['calibration']['sets'])} (quantile with >= 10 impostors above, else "
                    f"an exponential fit to the group's 25 highest impostors); worst group: {worst['set']}/"
                    f"{worst['condition']}/{worst['group']} ({worst['impostor_pairs']} impostor pairs, "
                    f"{worst['method']})"
                ),
            }
        document["thresholds"][engine] = entry
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    targets = [REPO_ROOT / "src" / "realname" / LOCK_FILE_NAME]
    for path in targets:
        path.write_text(text, encoding="utf-8")
    return targets


def git_commit() -> str:
    """The checked-out commit (short), with ``+dirty`` when the work tree has changes; ``unknown`` without git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


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
    parser.add_argument("--stem", default="face_accuracy", help="results file names (benchmarks/results/STEM.*)")
    parser.add_argument(
        "--sets",
        default=f"faces,{','.join(EAST_ASIAN_SETS)}",
        help="which sets (a slow engine may be measured and calibrated on faces_east_asian alone)",
    )
    parser.add_argument("--target-fmr", type=float, default=Policy().target_fmr)
    add_data_arguments(parser)
    args = parser.parse_args()
    if shared_data_missing(args.shared):
        return 2
    sets = [*load_sets(args.shared), load_calib_set(args.shared, fold="calibrate")]
    sets = [s for s in sets if s.name in args.sets.split(",")]
    chips = {c.name: c for c in CHIP_CONDITIONS if c.name in args.chips.split(",")}
    if not set(REALISTIC_CHIPS) <= set(chips):
        parser.error(f"--chips must include the realistic conditions {', '.join(REALISTIC_CHIPS)}")
    conditions = ("photo", *chips)
    detector = load_onnx_models(args.models_dir, 1)
    report: dict[str, Any] = {
        "target_fmr": args.target_fmr,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": git_commit(),
        "command": " ".join(["benchmarks/face_accuracy.py", *sys.argv[1:]]),
        "engines": {},
    }
    curves: dict[str, dict[str, Scores]] = {}
    for engine_name in args.engines.split(","):
        engine = build_face_engine(engine_name, args.models_dir, 1, Policy())
        started = time.perf_counter()
        embeddings = {
            (s.name, chip): embed_set(s, engine, detector, args.cache_dir, compression)
            for s in sets
            for chip, compression in chips.items()
            if measured(s.name, chip)
        }
        print(f"{engine_name}: embeddings in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        all_scores = {
            (s.name, condition): pair_scores(
                s, embeddings[(s.name, REALISTIC_CHIPS[0] if condition == "photo" else condition)], condition
            )
            for s in sets
            for condition in conditions
            if measured(s.name, condition)
        }
        calibration: dict[str, Any] = {"sets": [s.name for s in sets if s.name in EAST_ASIAN_SETS]}
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
            engine_report["group_fnmr_at_shipped"] += group_fnmr_rows(set_name, condition, scores, at_shipped)
            engine_report["group_fmr_at_shipped"] += group_fmr_rows(set_name, condition, scores, at_shipped)
        chip_threshold = shipped[ReferenceKind.CHIP.value]
        for face_set, chip, k, rule in itertools.product(
            (s for s in sets if s.name == "faces_east_asian"), REALISTIC_CHIPS, MULTI_FRAME_KS, MULTI_FRAME_RULES
        ):
            fused, single = multi_frame_scores(face_set, embeddings[(face_set.name, chip)], k, rule)
            fused_threshold = threshold_at(fused.impostor, 1e-3)
            engine_report["multi_frame"].append(
                {
                    "set": face_set.name,
                    "chip": chip,
                    "k": k,
                    "rule": rule,
                    "probes": len(fused.genuine),
                    "fused_impostor_pairs": len(fused.impostor),
                    "fnmr_single_at_shipped": round(fnmr_at(single, chip_threshold), 4),
                    "fnmr_fused_at_shipped": round(fnmr_at(fused.genuine, chip_threshold), 4),
                    "fmr_fused_at_shipped": fmr_at(fused.impostor, chip_threshold)[0],
                    "fnmr_fused_at_fused_fmr_1e-3": round(fnmr_at(fused.genuine, fused_threshold), 4),
                }
            )
        report["engines"][engine_name] = engine_report
    write_results(args.stem, report, markdown(report))
    det_plot(curves, RESULTS / f"{args.stem.replace('face_accuracy', 'face_det')}.png")
    if args.calibrate:
        for path in write_lock_thresholds(report["engines"], args.target_fmr):
            print(f"thresholds written to {path}", file=sys.stderr)
    print(markdown(report))
    return 0


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Face accuracy (target FMR {report['target_fmr']:g})",
        "",
        f"`{report['command']}` on {report['date']}, commit {report['commit']}.",
        "",
    ]
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
        lines += ["", "FNMR of each group at the shipped threshold (95 % identity-bootstrap interval):", ""]
        lines += [
            "| set | condition | group | identities | genuine pairs | FNMR | 95 % CI |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in result["group_fnmr_at_shipped"]:
            low, high = row["fnmr_ci95"]
            lines.append(
                f"| {row['set']} | {row['condition']} | {row['group']} | {row['identities']} | "
                f"{row['genuine_pairs']} | {row['fnmr']:.1%} | {low:.1%}–{high:.1%} |"
            )
        lines += [
            "",
            "FMR each group gets at the shipped threshold: 95 % identity-bootstrap interval (0–0 when no impostor "
            "matched: the bootstrap cannot see beyond the data) and the Clopper–Pearson upper bound (pairs treated "
            "as independent), and the upper bound over pairs of people (each pair of people one trial):",
            "",
        ]
        lines += [
            "| set | condition | group | identities | impostors | false matches | FMR | bootstrap 95 % | CP upper 95 % "
            "| people pairs (matched) | upper 95 % per people pair |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in result["group_fmr_at_shipped"]:
            low, high = row["fmr_ci95"]
            lines.append(
                f"| {row['set']} | {row['condition']} | {row['group']} | {row['identities']} | "
                f"{row['impostor_pairs']} | {row['false_matches']} | {row['fmr']:.2e} | {low:.2e}–{high:.2e} | "
                f"{row['fmr_upper_95']:.2e} | {row['person_pairs']} ({row['person_pairs_matched']}) | "
                f"{row['person_pair_upper_95']:.2e} |"
            )
        lines += ["", "Calibration rows (threshold per group for the target FMR):", ""]
        lines += [
            "| kind | set | condition | group | impostors | threshold | method | impostors above |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for kind in KINDS:
            for row in result["calibration"][kind]["groups"]:
                lines.append(
                    f"| {kind} | {row['set']} | {row['condition']} | {row['group']} | {row['impostor_pairs']} | "
                    f"{row['threshold']:.4f} | {row['method']} | {row['impostors_above']} |"
                )
        lines += ["", "Multi-frame (the chip vs K other photos of the person, fused; faces_east_asian):", ""]
        lines += [
            "| chip | K | fusion | probes | FNMR single | FNMR fused | FMR fused at shipped | FNMR fused @ fused FMR 1e-3 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in result["multi_frame"]:
            lines.append(
                f"| {row['chip']} | {row['k']} | {row['rule']} | {row['probes']} | {row['fnmr_single_at_shipped']:.1%} | "
                f"{row['fnmr_fused_at_shipped']:.1%} | {row['fmr_fused_at_shipped']:.2e} | "
                f"{row['fnmr_fused_at_fused_fmr_1e-3']:.1%} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
