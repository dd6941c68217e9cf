"""Liveness benchmark on ../shared/data/liveness: per-action precision/recall, APCER/BPCER, ms per clip.

    .venv/bin/python benchmarks/liveness_bench.py [--data ../shared/data/liveness] [--models var/models]
        [--threads 1] [--out benchmarks/results/liveness.json]

What it measures (the set is tiny — 11 labelled clips, 4 unlabelled, 3 stills — so every figure is a count
of a handful of events, reported with its numerator and denominator, not a rate to trust):

* **actions**: ``liveness detect`` on each clip, matched to labels.csv. A detection matches an unmatched label of
  the same action when their intervals overlap once the label is widened by ±0.5 s. Label names are mapped to
  the subject's own directions (``turn_right_img`` = the subject's ``turn_left``; ``down`` = ``nod``).
  Blinks are scored only on clips whose blinks are annotated (fellway a/b, lp_d9); head actions on all
  labelled clips. Both eye signals (fr_eye and the landmarks' eye aspect ratio) are scored.
* **BPCER**: real clips in which a challenge was performed, checked with that challenge (in its order), rejected.
  Also the clip-level rules (faces, identity, spoofing, timing) alone on every real clip.
* **APCER**: attacks accepted — spoof clips checked with the actions they show (the screen replay performs
  turn_left, turn_right); spoof clips and the stills (shown as a static 3 s burst) that perform nothing are
  checked with ``blink`` *and* also judged by the clip-level rules alone, i.e. as if the attacker had
  managed the actions (the stricter figure).
* **kiosk re-encoding**: the four bona fide clips and the screen replay are also re-encoded in memory as VP8
  WebM at 15 fps and 600 kbit/s (what MediaRecorder uploads) and checked again: compression moves fr_liveness.
* **speed**: decode + analyse + decide per clip, scaled to a 5 s clip, with ``--threads`` ONNX threads: wall
  time, and the process CPU time (less sensitive to other work on a shared machine; the load average is
  recorded with the figures).
* ``--yaw-source pose_model`` re-runs everything with fr_pose's yaw instead of the landmark yaw, to compare.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from realname.adapters.vision.clips import PyAvClipDecoder
from realname.adapters.vision.kiosk_recording import kiosk_recording
from realname.adapters.vision.liveness_analyser import AnalyserSettings, OnnxFrameAnalyser, PitchSource, YawSource
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.app.liveness import AnalysedFrame, DecodedFrame
from realname.bootstrap.vision import SESSION_THREADS
from realname.domain.liveness import Action, DetectedAction, EyeSignal, LivenessThresholds, evaluate_clip
from realname.domain.policy import Policy

REPO = Path(__file__).resolve().parents[1]
TOLERANCE_SECONDS = 0.5
LABEL_ACTIONS = {
    "turn_right_img": Action.TURN_LEFT,
    "turn_left_img": Action.TURN_RIGHT,
    "down": Action.NOD,
    "blink": Action.BLINK,
}
BLINK_ANNOTATED = {"fellway_blink_eyesclosed_a.mp4", "fellway_eyesclosed_b.mp4", "lp_d9_blinks_a.mp4"}
# The challenge each real clip performs (labels.csv order), used for BPCER.
PERFORMED = {
    "tvl_real_turnR_turnL.mp4": (Action.TURN_LEFT, Action.TURN_RIGHT),
    "tvl_real_nod_down_up.mp4": (Action.NOD,),
    "fellway_blink_eyesclosed_a.mp4": (Action.BLINK,),
    "lp_d9_blinks_a.mp4": (Action.BLINK,),
}
STILL_SECONDS = 3.0
STILL_FPS = 15.0
WEBM_BIT_RATE = 600_000
WEBM_SUFFIX = " (webm 600k)"


@dataclass(frozen=True, slots=True)
class Label:
    action: Action
    start_s: float
    end_s: float


def read_labels(path: Path) -> dict[str, tuple[str, list[Label]]]:
    labels: dict[str, tuple[str, list[Label]]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            found = []
            for item in filter(None, row["actions"].split(";")):
                name, span = item.split("@")
                start, end = (float(v) for v in span.split("-"))
                if name in LABEL_ACTIONS:
                    found.append(Label(LABEL_ACTIONS[name], start, end))
            labels[row["clip"]] = (row["class"], found)
    return labels


def match(detected: list[DetectedAction], labels: list[Label], action: Action) -> tuple[int, int, int]:
    """(true positives, detections, labels) for one action in one clip."""
    wanted = [d for d in detected if d.action is action]
    truth = [lab for lab in labels if lab.action is action]
    unmatched = list(truth)
    hits = 0
    for d in wanted:
        for lab in unmatched:
            if d.start_s <= lab.end_s + TOLERANCE_SECONDS and d.end_s >= lab.start_s - TOLERANCE_SECONDS:
                unmatched.remove(lab)
                hits += 1
                break
    return hits, len(wanted), len(truth)


def still_burst(path: Path) -> list[DecodedFrame]:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {path}")
    rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    return [DecodedFrame(i / STILL_FPS, rgb) for i in range(int(STILL_SECONDS * STILL_FPS) + 1)]


def as_kiosk_webm(clip: Path, bit_rate: int = WEBM_BIT_RATE) -> bytes:
    """The clip re-recorded the way a kiosk uploads it: VP8 in WebM at 15 fps and ~600 kbit/s (MediaRecorder)."""
    return kiosk_recording(clip, bit_rate=bit_rate)[0]


def ratio(numerator: int, denominator: int) -> dict[str, object]:
    return {"n": numerator, "of": denominator, "rate": round(numerator / denominator, 3) if denominator else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "liveness")
    parser.add_argument(
        "--models", type=Path, default=Path(os.environ.get("REALNAME_MODELS_DIR", REPO / "var" / "models"))
    )
    parser.add_argument("--threads", type=int, default=SESSION_THREADS, help="intra-op threads per ONNX session")
    parser.add_argument("--yaw-source", type=YawSource, default=YawSource.LANDMARKS, choices=list(YawSource))
    parser.add_argument("--pitch-source", type=PitchSource, default=PitchSource.POSE_MODEL, choices=list(PitchSource))
    parser.add_argument("--detect-every", type=int, default=AnalyserSettings().detect_every)
    parser.add_argument("--pose-every", type=int, default=AnalyserSettings().pose_every)
    parser.add_argument(
        "--track",
        action=argparse.BooleanOptionalAction,
        default=AnalyserSettings().track_between_detections,
        help="box from the previous frame's landmarks between detections",
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "liveness.json")
    args = parser.parse_args()

    models = OnnxFaceModels.load(args.models, threads=args.threads)
    thresholds = LivenessThresholds()
    settings = AnalyserSettings(
        yaw_source=args.yaw_source,
        pitch_source=args.pitch_source,
        detect_every=args.detect_every,
        pose_every=args.pose_every,
        track_between_detections=args.track,
    )
    analyser = OnnxFrameAnalyser(models, settings)
    # Untimed second pass: fr_eye on every frame, only to score blinks read by the eye model.
    eye_model_analyser = OnnxFrameAnalyser(models, replace(settings, eye_model_every_frame=True))
    decoder = PyAvClipDecoder(max_bytes=Policy().max_upload_bytes, max_seconds=Policy().max_clip_seconds + 1.0)
    labels = read_labels(args.data / "labels.csv")

    analysed: dict[str, list[AnalysedFrame]] = {}
    analysed_eye_model: dict[str, list[AnalysedFrame]] = {}
    timings: dict[str, dict[str, float]] = {}
    clips = sorted(args.data.glob("*.mp4")) + sorted((args.data / "unlabelled").glob("*.mp4"))
    for clip in clips:
        data = clip.read_bytes()
        started = time.perf_counter()
        cpu_started = time.process_time()
        frames = decoder.decode_video(data)
        decoded = time.perf_counter()
        analysed[clip.name] = list(analyser.analyse(frames))
        evaluate_clip([f.observation for f in analysed[clip.name]], thresholds, None)
        finished = time.perf_counter()
        cpu_seconds = time.process_time() - cpu_started
        duration = max(frames[-1].t_seconds, 1e-3)
        timings[clip.name] = {
            "seconds": round(duration, 2),
            "decode_ms": round(1000 * (decoded - started), 1),
            "total_ms": round(1000 * (finished - started), 1),
            "ms_per_5s": round(1000 * (finished - started) * 5.0 / duration, 1),
            "cpu_ms_per_5s": round(1000 * cpu_seconds * 5.0 / duration, 1),
        }
        analysed_eye_model[clip.name] = list(eye_model_analyser.analyse(frames))
    for name in [*PERFORMED, "tvl_screenreplay_turnR_turnL.mp4"]:
        webm = decoder.decode_video(as_kiosk_webm(args.data / name))
        analysed[name + WEBM_SUFFIX] = list(analyser.analyse(webm))
    for still in sorted((args.data / "stills").glob("*.jpg")):
        analysed[still.name] = list(analyser.analyse(still_burst(still)))

    report: dict[str, object] = {
        "tolerance_seconds": TOLERANCE_SECONDS,
        "threads": args.threads,
        "yaw_source": args.yaw_source.value,
        "pitch_source": args.pitch_source.value,
    }

    def frames_for(signal: EyeSignal) -> dict[str, list[AnalysedFrame]]:
        return analysed_eye_model if signal is EyeSignal.EYE_MODEL else analysed

    for signal in EyeSignal:
        rules = replace(thresholds, eye_signal=signal)
        for subset in ("all_labelled", "real_only"):
            per_action: dict[str, dict[str, object]] = {}
            for action in Action:
                hits = found = truth = 0
                for name, (cls, clip_labels) in labels.items():
                    if action is Action.BLINK and name not in BLINK_ANNOTATED:
                        continue
                    if subset == "real_only" and cls != "real":
                        continue
                    observations = [f.observation for f in frames_for(signal)[name]]
                    detected = list(evaluate_clip(observations, rules).actions_detected)
                    h, d, t = match(detected, clip_labels, action)
                    hits, found, truth = hits + h, found + d, truth + t
                per_action[action.value] = {"precision": ratio(hits, found), "recall": ratio(hits, truth)}
            report[f"actions_{signal.value}_{subset}"] = per_action
    # Not scored (no blink labels), but telling: tvl_real_turnR_turnL is labelled "no clear blink".
    report["blinks_seen_on_real_clips_without_blink_labels"] = {
        signal.value: {
            name: sum(
                a.action is Action.BLINK
                for a in evaluate_clip(
                    [f.observation for f in frames_for(signal)[name]], replace(thresholds, eye_signal=signal)
                ).actions_detected
            )
            for name, (cls, _) in labels.items()
            if cls == "real" and name not in BLINK_ANNOTATED
        }
        for signal in EyeSignal
    }
    report["spoof_frame_fraction"] = {
        name: {
            "fraction": round(sum(p < thresholds.min_live_probability for p in live) / len(live), 2) if live else None,
            "samples": len(live),
        }
        for name, frames in analysed.items()
        for live in [[f.observation.live_probability for f in frames if f.observation.live_probability is not None]]
    }
    report["detected"] = {
        name: [a.as_dict() for a in evaluate_clip([f.observation for f in frames], thresholds).actions_detected]
        for name, frames in analysed.items()
    }

    def check(name: str, actions: tuple[Action, ...] | None) -> dict[str, object]:
        result = evaluate_clip([f.observation for f in analysed[name]], thresholds, actions)
        return {"passed": result.passed, "reasons": [r.value for r in result.reasons]}

    bona_fide = {name: check(name, actions) for name, actions in PERFORMED.items()}
    bona_fide_webm = {name + WEBM_SUFFIX: check(name + WEBM_SUFFIX, actions) for name, actions in PERFORMED.items()}
    real_names = [n for n, (cls, _) in labels.items() if cls == "real"] + [
        c.name for c in clips if c.parent.name == "unlabelled"
    ]
    real_clip_rules = {name: check(name, None) for name in real_names}
    attacks_checked = {
        "tvl_screenreplay_turnR_turnL.mp4": check(
            "tvl_screenreplay_turnR_turnL.mp4", PERFORMED["tvl_real_turnR_turnL.mp4"]
        )
    }
    attacks_checked["tvl_screenreplay_turnR_turnL.mp4" + WEBM_SUFFIX] = check(
        "tvl_screenreplay_turnR_turnL.mp4" + WEBM_SUFFIX, PERFORMED["tvl_real_turnR_turnL.mp4"]
    )
    attack_names = [n for n, (cls, _) in labels.items() if cls != "real"] + [
        s for s in analysed if s.endswith("_fake.jpg") or s.endswith("_real.jpg")
    ]
    for name in attack_names:
        attacks_checked.setdefault(name, check(name, (Action.BLINK,)))
    attacks_clip_rules = {name: check(name, None) for name in attack_names}

    report["bpcer_challenge"] = ratio(sum(not r["passed"] for r in bona_fide.values()), len(bona_fide))
    report["bpcer_challenge_webm_reencoded"] = ratio(
        sum(not r["passed"] for r in bona_fide_webm.values()), len(bona_fide_webm)
    )
    report["bpcer_clip_rules"] = ratio(sum(not r["passed"] for r in real_clip_rules.values()), len(real_clip_rules))
    report["apcer_challenge"] = ratio(sum(bool(r["passed"]) for r in attacks_checked.values()), len(attacks_checked))
    report["apcer_clip_rules"] = ratio(
        sum(bool(r["passed"]) for r in attacks_clip_rules.values()), len(attacks_clip_rules)
    )
    report["bona_fide_checks"] = bona_fide
    report["bona_fide_checks_webm_reencoded"] = bona_fide_webm
    report["real_clip_rules"] = real_clip_rules
    report["attack_checks"] = attacks_checked
    report["attack_clip_rules"] = attacks_clip_rules
    per_5s = [t["ms_per_5s"] for t in timings.values()]
    cpu_per_5s = [t["cpu_ms_per_5s"] for t in timings.values()]
    speed: dict[str, object] = {
        "median_ms_per_5s_clip": round(statistics.median(per_5s), 1),
        "max_ms_per_5s_clip": round(max(per_5s), 1),
        "median_cpu_ms_per_5s_clip": round(statistics.median(cpu_per_5s), 1),
        "per_clip": timings,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    report["speed"] = speed
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    summary = {k: v for k, v in report.items() if k.startswith(("actions_", "apcer", "bpcer", "blinks_"))}
    summary["speed"] = {k: v for k, v in speed.items() if k != "per_clip"}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
