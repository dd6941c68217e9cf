"""Score fusion of SFace and fr_feature on chips, on the engine's crops (``scripts/chip_student_data.py eval``).

fr_feature (the installed int8 ``fr_feature.onnx``) embeds the same crops SFace does (live: scale 1.0 + mirror;
chip: 0.9/1.1 + mirrors; note the ``onnx`` engine itself aligns the live side at 0.9/1.1), the base SFace chip and
photo embeddings come from ``eval_chip_student.py``'s cache, and the fused score is
``w · cos_sface + (1 − w) · cos_fr_feature``. Same pairs and threshold rule as ``eval_chip_student.py``.

    PYTHONPATH=src .venv/bin/python scripts/eval_chip_fusion.py --models-dir /work/main/var/models
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT / "src"))

from eval_chip_student import fnmr, pair_scores, threshold_at  # noqa: E402
from train_chip_student import DEFAULT_CACHE  # noqa: E402

from realname.adapters.vision.onnx_models import OnnxEmbedder, PixelScaling, open_session, session_options  # noqa: E402


def embed_all(embedder: OnnxEmbedder, crops: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """crops [N, scales, 112, 112, 3] → the sum over scales and mirrors of the normalised embeddings, normalised."""
    result = np.full((len(crops), 512), np.nan, dtype=np.float32)
    for i in np.flatnonzero(ok):
        total = sum(
            embedder.embed_aligned(np.ascontiguousarray(view)) for crop in crops[i] for view in (crop, crop[:, ::-1])
        )
        result[i] = total / np.linalg.norm(total)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--set", default="faces_east_asian")
    args = parser.parse_args()
    data = np.load(args.cache / "eval.npz")
    keep = data["set_name"] == args.set
    conditions = ["j2k1024", "j2k1536"]
    all_conditions = [str(c) for c in data["conditions"]]
    columns = [all_conditions.index(c) for c in conditions]
    ok = data["ok"][keep][:, [0, *(1 + c for c in columns)]]
    identity, source = data["identity"][keep], data["source"][keep]
    suffix = f"{args.set}-{'-'.join(conditions)}.npz"
    sface_photo = np.load(args.cache / f"eval-photo-{suffix}")["photo"]
    sface_chips = np.load(args.cache / f"eval-chips-base-{suffix}")["chips"]
    embedder = OnnxEmbedder(
        open_session(args.models_dir / "fr_feature.onnx", session_options(1)), "fr_feature", PixelScaling.CENTRED
    )
    fr_photo = embed_all(embedder, data["clean"][keep][:, None], ok[:, 0])
    chips = data["chips"][keep]
    print("| condition | score | FNMR @1e-3 | FNMR @1e-4 |")
    print("| --- | --- | --- | --- |")
    for c, condition in enumerate(conditions):
        fr_chip = embed_all(embedder, chips[:, columns[c]], ok[:, 1 + c])
        s_gen, s_imp = pair_scores(sface_chips[c], sface_photo, identity, source, photo_pairs=False)
        f_gen, f_imp = pair_scores(fr_chip, fr_photo, identity, source, photo_pairs=False)
        for weight in (1.0, 0.8, 0.7, 0.5, 0.0):
            genuine = weight * s_gen + (1 - weight) * f_gen
            impostor = weight * s_imp + (1 - weight) * f_imp
            values = [fnmr(genuine, threshold_at(impostor, t)) for t in (1e-3, 1e-4)]
            print(
                f"| {condition} | {weight:.1f}·sface + {1 - weight:.1f}·fr_feature | {values[0]:.1%} | {values[1]:.1%} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
