"""Quick evaluation of a printed-portrait student delta on the engine's crops (``printed_student_data.py eval``).

Pairs as ``benchmarks/card_front.py`` scores the printed portrait: the printed portrait of image a against image b as
the live capture (same person, a ≠ b, both orders), impostors of the same source; a portrait that was not found is a
refused genuine pair and never a false match. Live side: base SFace (scale 1.0 + mirror); printed side: scale 1.0 +
mirror with the base (the product today), the student, and the two fused (the normalised sum of both embeddings,
as the product fuses the chip student). FNMR at each row's own threshold for FMR 1e-3 and 1e-4, and at a fixed
threshold (``--threshold``, default the shipped printed-portrait threshold from ``models.lock``) with the impostors accepted
there; and the operating point each variant would get from the chip rule (the highest FMR-1e-4 threshold over the
East Asian sets and their impostor groups).

    PYTHONPATH=src .venv/bin/python scripts/eval_printed_student.py --wheel W.whl [--delta D.npz ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT / "src"))

from eval_chip_student import fnmr, operating_threshold, pair_scores, student_parser, threshold_at, with_delta  # noqa: E402
from sface_torch import FusedChain, OnnxChain, folded_sface_bytes  # noqa: E402
from train_chip_student import embed  # noqa: E402

LOCK = REPO_ROOT / "src" / "realname" / "models.lock"


def main() -> int:
    parser = student_parser(__doc__)
    parser.add_argument(
        "--threshold", type=float, default=0.0, help="default: the shipped sface printed (else photo) threshold"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pinned = json.loads(LOCK.read_text())["thresholds"]["sface"]
    threshold = args.threshold or float(pinned.get("printed", pinned["photo"])["threshold"])
    data = np.load(args.cache / "printed-eval.npz")
    ok = data["ok"]
    set_names, identity, source, group = (data[k] for k in ("set_name", "identity", "source", "group"))
    model_bytes = folded_sface_bytes(args.wheel)
    base = FusedChain(OnnxChain(model_bytes)).eval()
    live = embed(base, data["clean"])
    live[~ok[:, 0]] = np.nan
    printed: dict[str, np.ndarray] = {"base": embed(base, data["printed"])}
    for delta in args.delta:
        printed[delta.stem] = embed(with_delta(model_bytes, delta), data["printed"])
        fused = printed[delta.stem] + printed["base"]
        printed[f"{delta.stem}+base"] = fused / np.linalg.norm(fused, axis=1, keepdims=True)
    print(f"fixed threshold {threshold}")
    print("| printed side | set | genuine | impostors | FNMR @1e-3 | FNMR @1e-4 | FNMR at fixed | accepted at fixed |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    operating = []
    for name, embedded in printed.items():
        embedded = embedded.copy()
        embedded[~ok[:, 1]] = np.nan
        scored = {}
        for set_name in np.unique(set_names):
            members = (set_names == set_name) & ok[:, 0]
            genuine, impostor, groups = pair_scores(
                embedded[members], live[members], identity[members], source[members], group[members], photo_pairs=False
            )
            scored[(str(set_name), "j2k1024")] = (genuine, impostor, groups)  # "realistic" for the operating rule
            accepted = int(np.sum(impostor[~np.isnan(impostor)] >= threshold))
            print(
                f"| {name} | {set_name} | {len(genuine)} | {len(impostor)} | "
                f"{fnmr(genuine, threshold_at(impostor, 1e-3)):.1%} | {fnmr(genuine, threshold_at(impostor, 1e-4)):.1%} | "
                f"{fnmr(genuine, threshold):.1%} | {accepted} |",
                flush=True,
            )
        point = operating_threshold(scored)
        operating.append((name, point, {s: fnmr(g, point) for (s, _c), (g, _i, _gr) in scored.items()}))
    print()
    print("| printed side | operating threshold (chip rule) | FNMR at it, per set |")
    print("| --- | --- | --- |")
    for name, point, per_set in operating:
        print(f"| {name} | {point:.4f} | " + ", ".join(f"{s} {v:.1%}" for s, v in per_set.items()) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
