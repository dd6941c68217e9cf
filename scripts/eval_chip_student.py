"""Quick evaluation of a chip-student delta on the engine's crops (``scripts/chip_student_data.py eval``).

The same pairs and rules as ``benchmarks/face_accuracy.py`` (chip of image a vs photo of image b, both orders,
impostors of the same source; photo vs photo once per pair; threshold = lowest with observed FMR ≤ target), the
same crops as ``OnnxFaceEngine`` (live: scale 1.0 + mirror with base SFace; chip: scales 0.9/1.1 + mirrors with
the student), computed with the torch copy of the folded graph (within 3e-6 of onnxruntime) — minutes instead
of an hour. The product-path figures come from ``benchmarks/face_accuracy.py`` with the student installed.

    PYTHONPATH=src .venv/bin/python scripts/eval_chip_student.py --wheel W.whl [--delta D.npz ...] [--route 550]

Two tables: FNMR at each row's own threshold for FMR 1e-3 and 1e-4, and FNMR at the **operating point** — one
chip threshold per model, set as ``face_accuracy.py --calibrate`` sets it (the highest of the FMR-1e-4 thresholds of
every East Asian set × realistic chip condition × impostor group, ``face_metrics.threshold_for_fmr``), so that a
model that gains on one condition and loses on another is judged as the product would run it. Variants of each
delta: ``D`` (the student embeds every chip), ``D@route≥CUT`` (chips whose face-region sharpness —
``chip_sharpness.face_region_sharpness`` of the decoded chip — is at least CUT are embedded by the base model,
softer ones by the student) and ``D+base`` (the normalised sum of both embeddings).

``--live-chip W`` (a lever measured, not shipped): each score becomes (s + W·s_chip) / (1 + W), where s_chip
compares the chip with the *live photo made into a chip the same way* (the same condition, so the budget is assumed
known — an optimistic bound; ``--live-chip-condition C`` fixes the live chip's condition instead). Where the live
chip has no face the plain score stays.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT / "src"))

from sface_torch import FusedChain, OnnxChain, folded_sface_bytes  # noqa: E402
from train_chip_student import DEFAULT_CACHE, embed, normalised  # noqa: E402

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from face_metrics import threshold_for_fmr  # noqa: E402

SETS = ("faces_east_asian", "faces_east_asian_calib_calibrate", "faces")
EAST_ASIAN = ("faces_east_asian", "faces_east_asian_calib_calibrate")
REALISTIC = ("j2k1024", "j2k1536")
OPERATING_FMR = 1e-4


def threshold_at(impostor: np.ndarray, target: float) -> float:
    valid = np.sort(impostor[~np.isnan(impostor)])[::-1]
    allowed = math.floor(target * len(impostor))
    if allowed >= len(valid):
        return float(valid[-1])
    return float(valid[allowed]) + 1e-4


def fnmr(genuine: np.ndarray, threshold: float) -> float:
    return float(np.mean(~(genuine >= threshold)))


def chip_embeddings(module: torch.nn.Module, chips: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """chips [N, scales, 112, 112, 3] → the mean over scales and mirrors, L2-normalised; NaN without a face."""
    per_scale = [embed(module, chips[:, s], normalise=False) for s in range(chips.shape[1])]
    total = torch.from_numpy(np.sum(per_scale, axis=0))
    result = normalised(total).numpy()
    result[~ok] = np.nan
    return result


def pair_scores(
    probe: np.ndarray,
    photo: np.ndarray,
    identity: np.ndarray,
    source: np.ndarray,
    group: np.ndarray,
    *,
    photo_pairs: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(genuine, impostor, impostor group: the probe's group when both share it, else "mixed")."""
    matrix = probe @ photo.T
    n = len(identity)
    same_id = identity[:, None] == identity[None, :]
    same_source = source[:, None] == source[None, :]
    groups = np.where(group[:, None] == group[None, :], np.broadcast_to(group[:, None], (n, n)), "mixed")
    if photo_pairs:
        upper = np.triu(np.ones((n, n), dtype=bool), 1)
        impostors = ~same_id & same_source & upper
        return matrix[same_id & upper], matrix[impostors], groups[impostors]
    not_self = ~np.eye(n, dtype=bool)
    impostors = ~same_id & same_source
    return matrix[same_id & not_self], matrix[impostors], groups[impostors]


def fuse_live_chip(
    plain: tuple[np.ndarray, np.ndarray], on_chips: tuple[np.ndarray, np.ndarray], weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """(s + w·s_chip) / (1 + w) for the genuine and the impostor scores; the plain score where s_chip is NaN."""
    fused = [np.where(np.isnan(b), a, (a + weight * b) / (1 + weight)) for a, b in zip(plain, on_chips, strict=True)]
    return fused[0], fused[1]


def operating_threshold(scored: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float:
    """The product's chip threshold: the highest FMR-1e-4 threshold over East Asian sets × realistic conditions ×
    impostor groups (and each set × condition as a whole)."""
    thresholds = []
    for (set_name, condition), (_genuine, impostor, groups) in scored.items():
        if set_name not in EAST_ASIAN or condition not in REALISTIC:
            continue
        for label in {*groups.tolist(), "all"}:
            values = impostor if label == "all" else impostor[groups == label]
            if len(values):
                thresholds.append(threshold_for_fmr(values, OPERATING_FMR).threshold)
    return max(thresholds)


def with_delta(model_bytes: bytes, delta: Path) -> torch.nn.Module:
    """The folded SFace graph with a delta's initializers, as the fast torch module (evaluation mode)."""
    chain = OnnxChain(model_bytes).eval()
    with np.load(delta) as archive, torch.no_grad():
        for name in archive.files:
            chain.params[name].copy_(torch.from_numpy(archive[name].astype(np.float32)))
    return FusedChain(chain).eval()


def delta_time(args: argparse.Namespace, stem: str) -> float:
    return next(d.stat().st_mtime for d in args.delta if d.stem == stem)


def student_parser(description: str | None) -> argparse.ArgumentParser:
    """The options every student evaluation takes: the pinned wheel, the deltas, the crop cache, threads."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--delta", type=Path, action="append", default=[])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--threads", type=int, default=2)
    return parser


def main() -> int:
    parser = student_parser(__doc__)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--conditions", default="j2k1024,j2k1536", help="chip conditions (and jpeg_q25)")
    parser.add_argument(
        "--route", type=float, action="append", default=[], help="also route: base at or above this sharpness"
    )
    parser.add_argument("--live-chip", type=float, default=0.0, help="weight of chip-vs-live-chip scores")
    parser.add_argument("--live-chip-condition", default="", help="the live chip's condition (default: the probe's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = np.load(args.cache / "eval.npz")
    wanted_sets = args.sets.split(",")
    keep = np.isin(data["set_name"], wanted_sets)
    all_conditions = [str(c) for c in data["conditions"]]
    conditions = [c for c in all_conditions if c in args.conditions.split(",")]
    columns = [all_conditions.index(c) for c in conditions]
    ok = data["ok"][keep][:, [0, *(1 + c for c in columns)]]
    set_names, identity, source = data["set_name"][keep], data["identity"][keep], data["source"][keep]
    group = data["group"][keep]
    sharpness = data["sharpness"][keep][:, columns] if "sharpness" in data.files else None
    clean, chip_crops = data["clean"][keep], data["chips"][keep][:, columns]
    model_bytes = folded_sface_bytes(args.wheel)
    base = FusedChain(OnnxChain(model_bytes)).eval()
    suffix = f"{'-'.join(wanted_sets)}-{'-'.join(conditions)}.npz"
    photo_file = args.cache / f"eval-photo-{suffix}"
    if photo_file.is_file():
        photo = np.load(photo_file)["photo"]
    else:
        photo = embed(base, clean)
        photo[~ok[:, 0]] = np.nan
        np.savez(photo_file, photo=photo)
    models: dict[str, torch.nn.Module] = {"base": base}
    for delta in args.delta:
        models[delta.stem] = with_delta(model_bytes, delta)
    embedded: dict[str, np.ndarray] = {}
    for model_name, module in models.items():
        cache_file = args.cache / f"eval-chips-{model_name}-{suffix}"
        if cache_file.is_file() and (model_name == "base" or cache_file.stat().st_mtime > delta_time(args, model_name)):
            embedded[model_name] = np.load(cache_file)["chips"]
        else:
            embedded[model_name] = np.stack(
                [chip_embeddings(module, chip_crops[:, c], ok[:, 1 + c]) for c in range(len(conditions))]
            )
            np.savez(cache_file, chips=embedded[model_name])
    variants = dict(embedded)
    for model_name in [m for m in embedded if m != "base"]:
        student, teacher = embedded[model_name], embedded["base"]
        fused = student + teacher
        variants[f"{model_name}+base"] = fused / np.linalg.norm(fused, axis=-1, keepdims=True)
        for cut in args.route:
            if sharpness is None:
                raise SystemExit("the eval cache has no sharpness: rebuild it with chip_student_data.py eval")
            sharp = np.greater_equal(sharpness.T, cut)[..., None]
            variants[f"{model_name}@route>={cut:g}"] = np.where(sharp, teacher, student)
    rows = []
    operating: list[tuple[str, str, str, float, float, float]] = []
    for model_name, chips in variants.items():
        scored: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for set_name in wanted_sets:
            members = set_names == set_name
            if not members.any():
                continue
            for c, condition in enumerate(["photo", *conditions]):
                probe = photo[members] if condition == "photo" else chips[c - 1][members]
                by = (identity[members], source[members], group[members])
                scores = pair_scores(probe, photo[members], *by, photo_pairs=condition == "photo")
                if args.live_chip and condition != "photo":
                    live_c = conditions.index(args.live_chip_condition) if args.live_chip_condition else c - 1
                    on_chips = pair_scores(probe, chips[live_c][members], *by, photo_pairs=False)
                    scores = (*fuse_live_chip(scores[:2], on_chips[:2], args.live_chip), scores[2])
                scored[(set_name, condition)] = scores
        for (set_name, condition), (genuine, impostor, _groups) in scored.items():
            values = {f"@{t:g}": fnmr(genuine, threshold_at(impostor, t)) for t in (1e-3, 1e-4)}
            rows.append((model_name, set_name, condition, len(genuine), len(impostor), values))
        if any(s in EAST_ASIAN and c in REALISTIC for s, c in scored):
            threshold = operating_threshold(scored)
            for (set_name, condition), (genuine, impostor, _groups) in scored.items():
                if condition != "photo":
                    fmr = float(np.mean(impostor[~np.isnan(impostor)] >= threshold))
                    operating.append((model_name, set_name, condition, threshold, fnmr(genuine, threshold), fmr))
    print("| model | set | condition | genuine | impostors | FNMR @1e-3 | FNMR @1e-4 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for model_name, set_name, condition, genuine_count, impostor_count, values in rows:
        if model_name != "base" and condition == "photo":
            continue
        print(
            f"| {model_name} | {set_name} | {condition} | {genuine_count} | {impostor_count} | "
            f"{values['@0.001']:.1%} | {values['@0.0001']:.1%} |"
        )
    print()
    print("| model | set | condition | chip threshold | FNMR at it | FMR at it |")
    print("| --- | --- | --- | --- | --- | --- |")
    for model_name, set_name, condition, threshold, rejected, accepted in operating:
        print(f"| {model_name} | {set_name} | {condition} | {threshold:.4f} | {rejected:.1%} | {accepted:.1e} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
