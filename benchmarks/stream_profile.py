"""Where the CPU of a streamed clip goes: per thread and per step, against the single upload of the same clip.

    .venv/bin/python benchmarks/stream_profile.py [--data ../shared/data/liveness] [--models var/models]
        [--chunk-seconds 0.5] [--rounds 1] [--pace] [--cprofile out.pstats]

The set-up of ``stream_bench.py`` (the whole service in one process behind Starlette's TestClient, the 4 real clips
re-encoded as a kiosk records them). Each clip is sent once streamed (chunks back to back, or at real-time pace with
``--pace``) and once as a single upload. Reported per 10 s of clip:

* **process** CPU (``time.process_time``) from the first request to the decision;
* **per thread** CPU, from ``/proc/self/task/*/stat`` before and after, grouped by thread name (threads that ended
  during the run, such as a stream's decoder, are counted by the wrappers below instead);
* **per step**: the thread CPU (``time.thread_time``) spent inside the service's steps, measured by wrapping them in
  this process only (inclusive: a step's figure contains the steps it calls). What no step covers is the HTTP
  layer (routing, authentication, multipart parsing, JSON) and the in-process client.

``--cprofile FILE`` also runs cProfile in every thread (thread CPU as its timer) and writes the merged statistics.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from liveness_bench import PERFORMED
from proc_cpu import thread_cpu_seconds
from realname.adapters.http.app import create_app
from realname.bootstrap import Container
from stream_bench import (
    AskFor,
    Kiosk,
    add_service_arguments,
    chip_photo,
    kiosk_webm,
    single_once,
    start_service,
    stream_once,
)
from thread_profiles import profiled_threads


class StepTimer:
    """Thread CPU inside wrapped callables, per step name (inclusive), from every thread."""

    def __init__(self) -> None:
        self.cpu: collections.defaultdict[str, float] = collections.defaultdict(float)
        self.calls: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def wrap(self, owner: Any, attribute: str, step: str) -> None:
        original = getattr(owner, attribute)
        timer = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                with timer._lock:
                    timer.cpu[step] += spent
                    timer.calls[step] += 1

        setattr(owner, attribute, timed)

    def snapshot(self) -> tuple[dict[str, float], dict[str, int]]:
        with self._lock:
            return dict(self.cpu), dict(self.calls)


def thread_cpu() -> dict[str, float]:
    """CPU seconds of this process's live threads, summed by thread name (digits dropped: pool threads group);
    threads Python did not start are grouped as native."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    totals: collections.defaultdict[str, float] = collections.defaultdict(float)
    for thread_id, seconds in thread_cpu_seconds().items():
        name = names.get(thread_id, "native (FFmpeg, ONNX Runtime)")
        totals["".join(c for c in name if not c.isdigit()).rstrip("_-") or "?"] += seconds
    return dict(totals)


DECISIONS: list[tuple[str, float | None, tuple[str, ...]]] = []
"""Every decision's outcome, similarity and reasons (the response shows a clerk neither score nor threshold)."""


def record_decisions() -> None:
    from realname.app import verification

    original = verification.Verification.decide_verification

    def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
        decision = original(self, *args, **kwargs)
        DECISIONS.append((decision.outcome.value, decision.similarity, tuple(decision.reasons)))
        return decision

    verification.Verification.decide_verification = recorded  # type: ignore[method-assign]


def wrap_steps(timer: StepTimer, container: Container) -> None:
    from realname.adapters.vision import clip_stream, clips, liveness_analyser, onnx_engine
    from realname.app import liveness, staff_auth, streamed_verification, verification

    timer.wrap(streamed_verification.LivenessStreams, "open", "stream.open")
    timer.wrap(verification.Verification, "begin_verification", "verification.begin")
    timer.wrap(onnx_engine.OnnxFaceEngine, "analyse_id_photo", "engine.analyse_id_photo")
    timer.wrap(onnx_engine.OnnxFaceEngine, "analyse", "engine.analyse (live picture)")
    timer.wrap(onnx_engine.OnnxFaceEngine, "analyse_all", "engine.analyse_all")
    timer.wrap(streamed_verification.LivenessStreams, "add_chunk", "stream.add_chunk")
    timer.wrap(streamed_verification.LivenessStreams, "_prepare_candidates", "stream.prepare_candidates")
    timer.wrap(clip_stream.PyAvStreamingAnalysis, "_decode", "decoder thread (streamed)")
    timer.wrap(clip_stream.PyAvStreamingAnalysis, "_analyse_decoded", "frames analysed (streamed)")
    timer.wrap(clip_stream._BytePipe, "wait_taken", "waiting for the decoder")
    timer.wrap(clips.PyAvClipDecoder, "decode_video", "decode (single upload)")
    timer.wrap(clips.PyAvClipDecoder, "_rgb", "frame to RGB")
    timer.wrap(liveness_analyser.OnnxClipAnalysis, "add", "per-frame analysis")
    timer.wrap(liveness_analyser.OnnxClipAnalysis, "settled_candidates", "settled_candidates")
    timer.wrap(liveness.LivenessChecker, "check", "liveness.check (single upload)")
    timer.wrap(liveness.LivenessChecker, "check_frames", "liveness.check_frames")
    timer.wrap(streamed_verification.LivenessStreams, "finish", "stream.finish")
    timer.wrap(verification.Verification, "decide_verification", "verification.decide")
    timer.wrap(verification.Verification, "verify", "verification.verify (single upload)")
    timer.wrap(staff_auth.StaffAuth, "actor_for", "auth.actor_for")
    for name in ("detect", "landmarks", "eyes_closed_probability", "head_pose", "live_probability", "embed"):
        timer.wrap(container.onnx_models, name, f"model.{name}")


TOP_STEPS = {
    "stream": ("stream.open", "stream.add_chunk", "decoder thread (streamed)", "stream.finish"),
    "single": ("verification.verify (single upload)",),
}
"""The outermost steps of each kind: process CPU minus their sum is the HTTP layer, the client and native threads."""


def measure(kind: str, run: Callable[[], dict[str, Any]], timer: StepTimer) -> dict[str, Any]:
    threads0, (steps0, calls0) = thread_cpu(), timer.snapshot()
    cpu0 = time.process_time()
    row = run()
    cpu = time.process_time() - cpu0
    threads1, (steps1, calls1) = thread_cpu(), timer.snapshot()
    row["process_cpu_ms"] = round(1000 * cpu, 1)
    row["threads_ms"] = {
        name: round(1000 * (threads1.get(name, 0.0) - threads0.get(name, 0.0)), 1)
        for name in sorted(set(threads0) | set(threads1))
        if threads1.get(name, 0.0) - threads0.get(name, 0.0) > 0.0
    }
    row["steps_ms"] = {
        name: round(1000 * (steps1[name] - steps0.get(name, 0.0)), 1)
        for name in sorted(steps1)
        if steps1[name] - steps0.get(name, 0.0) > 0.0
    }
    row["step_calls"] = {
        name: calls1[name] - calls0.get(name, 0) for name in sorted(calls1) if calls1[name] > calls0.get(name, 0)
    }
    row["kind"] = kind
    top = TOP_STEPS[kind]
    row["inside_steps_ms"] = round(sum(row["steps_ms"].get(step, 0.0) for step in top), 1)
    return row


def streamed(
    kiosk: Kiosk, attempt: str, nonce: str, webm: bytes, seconds: float, photo: bytes, chunk_s: float, pace: bool
) -> dict[str, Any]:
    chunks = stream_once(kiosk, attempt, nonce, webm, seconds, photo, chunk_s, pace=pace)["chunks"]
    outcome, similarity, reasons = DECISIONS[-1]
    return {"outcome": outcome, "similarity": similarity, "reasons": reasons, "requests": chunks + 2}


def single(kiosk: Kiosk, attempt: str, nonce: str, webm: bytes, photo: bytes) -> dict[str, Any]:
    single_once(kiosk, attempt, nonce, webm, photo)
    outcome, similarity, reasons = DECISIONS[-1]
    return {"outcome": outcome, "similarity": similarity, "reasons": reasons, "requests": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_service_arguments(parser)
    parser.add_argument("--chunk-seconds", type=float, default=0.5)
    parser.add_argument("--pace", action="store_true", help="send chunks at real-time pace (as stream_bench does)")
    parser.add_argument("--cprofile", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write every row as JSON here")
    args = parser.parse_args()

    random = AskFor()
    rows: list[dict[str, Any]] = []
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        container = start_service(Path(folder), args.models, random)
        record_decisions()
        timer = StepTimer()
        wrap_steps(timer, container)
        with (
            profiled_threads(args.cprofile),
            TestClient(create_app(container.http_services()), raise_server_exceptions=False) as client,
        ):
            kiosk = Kiosk(container, client)
            clips = {name: kiosk_webm(args.data / name) for name in PERFORMED}
            # Warm-up: models loaded, first requests served, before anything is measured.
            name = next(iter(PERFORMED))
            webm, seconds, frontal = clips[name]
            photo = chip_photo(container, frontal)
            attempt, nonce = kiosk.challenged(random, PERFORMED[name][0].value)
            single(kiosk, attempt, nonce, webm, photo)
            for _ in range(args.rounds):
                for name, actions in PERFORMED.items():
                    webm, seconds, frontal = clips[name]
                    photo = chip_photo(container, frontal)
                    attempt, nonce = kiosk.challenged(random, actions[0].value)
                    a = measure(
                        "stream",
                        functools.partial(
                            streamed, kiosk, attempt, nonce, webm, seconds, photo, args.chunk_seconds, args.pace
                        ),
                        timer,
                    )
                    attempt, nonce = kiosk.challenged(random, actions[0].value)
                    b = measure("single", functools.partial(single, kiosk, attempt, nonce, webm, photo), timer)
                    for row in (a, b):
                        row.update(clip=name, seconds=round(seconds, 2))
                        rows.append(row)
                        print(json.dumps(row), flush=True)
        container.engine.dispose()
    summary: dict[str, Any] = {}
    for kind in ("stream", "single"):
        mine = [r for r in rows if r["kind"] == kind]
        per10 = 10.0 / sum(r["seconds"] for r in mine) * 1.0
        steps: collections.Counter[str] = collections.Counter()
        threads: collections.Counter[str] = collections.Counter()
        for r in mine:
            steps.update(r["steps_ms"])
            threads.update(r["threads_ms"])
        summary[kind] = {
            "process_cpu_ms_per_10s": round(per10 * sum(r["process_cpu_ms"] for r in mine), 1),
            "threads_ms_per_10s": {k: round(per10 * v, 1) for k, v in threads.most_common()},
            "steps_ms_per_10s": {k: round(per10 * v, 1) for k, v in steps.most_common()},
            "decisions": [[r["clip"], r["outcome"], r["similarity"], list(r["reasons"])] for r in mine],
            "outside_steps_ms_per_10s": round(per10 * sum(r["process_cpu_ms"] - r["inside_steps_ms"] for r in mine), 1),
        }
    report = {
        "load_average_1min": [round(load_at_start, 2), round(os.getloadavg()[0], 2)],
        "chunk_seconds": args.chunk_seconds,
        "paced": args.pace,
        "summary": summary,
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps({**report, "rows": rows}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
