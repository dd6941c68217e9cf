"""CPU per 10 s of clip of each ONNX model in the liveness analysis, on the labelled clips of ../shared/data/liveness.

    .venv/bin/python benchmarks/liveness_profile.py [--data ../shared/data/liveness] [--models var/models]
        [--detect-every N] [--no-track]

Wraps each model call of one ``OnnxFaceModels`` with a process-CPU timer, analyses every labelled clip with the
shipped analyser settings (or the given cadence), and prints calls and CPU milliseconds per 10 s of clip per model.
"""

from __future__ import annotations

import argparse
import collections
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from realname.adapters.vision.clips import PyAvClipDecoder
from realname.adapters.vision.liveness_analyser import AnalyserSettings, OnnxFrameAnalyser
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.domain.policy import Policy

REPO = Path(__file__).resolve().parents[1]
MODEL_CALLS = ("detect", "landmarks", "eyes_closed_probability", "head_pose", "live_probability", "embed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "liveness")
    parser.add_argument(
        "--models", type=Path, default=Path(os.environ.get("REALNAME_MODELS_DIR", REPO / "var" / "models"))
    )
    parser.add_argument("--detect-every", type=int, default=AnalyserSettings().detect_every)
    parser.add_argument("--track", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    models = OnnxFaceModels.load(args.models, threads=1)
    cpu: dict[str, float] = collections.defaultdict(float)
    calls: collections.Counter[str] = collections.Counter()

    def timed(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*a: Any, **kw: Any) -> Any:
            started = time.process_time()
            try:
                return call(*a, **kw)
            finally:
                cpu[name] += time.process_time() - started
                calls[name] += 1

        return run

    for name in MODEL_CALLS:
        setattr(models, name, timed(name, getattr(models, name)))
    settings = replace(AnalyserSettings(), detect_every=args.detect_every, track_between_detections=args.track)
    analyser = OnnxFrameAnalyser(models, settings)
    decoder = PyAvClipDecoder(max_bytes=Policy().max_upload_bytes, max_seconds=Policy().max_clip_seconds + 1.0)
    seconds = analyse_cpu = 0.0
    for clip in sorted(args.data.glob("*.mp4")):
        frames = decoder.decode_video(clip.read_bytes())
        seconds += frames[-1].t_seconds
        started = time.process_time()
        analyser.analyse(frames)
        analyse_cpu += time.process_time() - started
    per_10s = 10_000.0 / seconds
    print(
        f"{seconds:.1f} s of clip; analysis {analyse_cpu * per_10s:.0f} ms CPU per 10 s; load {os.getloadavg()[0]:.1f}"
    )
    for name in MODEL_CALLS:
        print(f"{name:24s} {calls[name]:5d} calls  {cpu[name] * per_10s:6.1f} ms per 10 s")


if __name__ == "__main__":
    main()
