"""Quick evaluation of a chip-student delta on the engine's crops (``scripts/chip_student_data.py eval``).

The same pairs and rules as ``benchmarks/face_accuracy.py`` (chip of image a vs photo of image b, both orders,
impostors of the same source; photo vs photo once per pair; threshold = lowest with observed FMR ≤ target), the
same crops as ``OnnxFaceEngine`` (live: scale 1.0 + mirror with base SFace; chip: scales 0.9/1.1 + mirrors with
the student), computed with the torch copy of the folded graph (within 3e-6 of onnxruntime) — minutes instead
of an hour. The product-path figures come from ``benchmarks/face_accuracy.py`` with the student installed.

    PYTHONPATH=src .venv/bin/python scripts/eval_chip_student.py --wheel W.whl [--delta D.npz ...]
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

SETS = ("faces_east_asian", "faces_east_asian_calib_calibrate", "faces")


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
    probe: np.ndarray, photo: np.ndarray, identity: np.ndarray, source: np.ndarray, *, photo_pairs: bool
) -> tuple[np.ndarray, np.ndarray]:
    matrix = probe @ photo.T
    n = len(identity)
    same_id = identity[:, None] == identity[None, :]
    same_source = source[:, None] == source[None, :]
    if photo_pairs:
        upper = np.triu(np.ones((n, n), dtype=bool), 1)
        return matrix[same_id & upper], matrix[~same_id & same_source & upper]
    not_self = ~np.eye(n, dtype=bool)
    return matrix[same_id & not_self], matrix[~same_id & same_source]


def delta_time(args: argparse.Namespace, stem: str) -> float:
    return next(d.stat().st_mtime for d in args.delta if d.stem == stem)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--delta", type=Path, action="append", default=[])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--conditions", default="j2k1024,j2k1536", help="chip conditions (and jpeg_q25)")
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
        chain = OnnxChain(model_bytes).eval()
        with np.load(delta) as archive, torch.no_grad():
            for name in archive.files:
                chain.params[name].copy_(torch.from_numpy(archive[name].astype(np.float32)))
        models[delta.stem] = FusedChain(chain).eval()
    rows = []
    for model_name, module in models.items():
        cache_file = args.cache / f"eval-chips-{model_name}-{suffix}"
        if cache_file.is_file() and (model_name == "base" or cache_file.stat().st_mtime > delta_time(args, model_name)):
            chips = np.load(cache_file)["chips"]
        else:
            chips = np.stack([chip_embeddings(module, chip_crops[:, c], ok[:, 1 + c]) for c in range(len(conditions))])
            np.savez(cache_file, chips=chips)
        for set_name in wanted_sets:
            members = set_names == set_name
            if not members.any():
                continue
            for c, condition in enumerate(["photo", *conditions]):
                probe = photo[members] if condition == "photo" else chips[c - 1][members]
                genuine, impostor = pair_scores(
                    probe, photo[members], identity[members], source[members], photo_pairs=condition == "photo"
                )
                values = {f"@{t:g}": fnmr(genuine, threshold_at(impostor, t)) for t in (1e-3, 1e-4)}
                rows.append((model_name, set_name, condition, len(genuine), len(impostor), values))
    print("| model | set | condition | genuine | impostors | FNMR @1e-3 | FNMR @1e-4 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for model_name, set_name, condition, genuine_count, impostor_count, values in rows:
        if model_name != "base" and condition == "photo":
            continue
        print(
            f"| {model_name} | {set_name} | {condition} | {genuine_count} | {impostor_count} | "
            f"{values['@0.001']:.1%} | {values['@0.0001']:.1%} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
