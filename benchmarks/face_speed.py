"""Speed of one 1:1 match, sface vs onnx vs dlib, on the same images: ms per pair (1 thread), ms per kiosk
verification (1 and 2 threads), pairs/s with 2 worker processes (the 2-core machine), and worker RSS with the models
loaded.

A pair = a simulated 102×126 ID chip photo (JPEG 2000, 1,536 bytes) + a 640×480 live capture, each decoded,
analysed (detect, landmarks, embedding; for the live side also the quality gates: pose, eyes, sharpness) and
compared (``compare_faces``). A verification = what a kiosk attempt costs the matcher: the chip decoded and
analysed with the 3 best clip frames (``match_frames``, k = 3; three 640×480 captures stand in for the frames).

    .venv/bin/python benchmarks/face_speed.py                       # a few minutes
    .venv/bin/python benchmarks/face_speed.py --pairs 10 --engines sface,onnx   # quicker

Variants (not shipped, for comparison): ``onnx one alignment scale``; ``sface chip at one scale`` (the chip
embedded at scale 1.0 with its mirror instead of 0.9/1.1); ``sface int8`` when benchmarks/sface_int8.py has left
its build in the cache folder (``var/bench-cache/sface-int8-f10.onnx``, or ``--int8-build PATH``).

Uses ../shared/data/faces_east_asian when present, else two public-domain portraits. Writes
benchmarks/results/face_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from face_data import MODELS_DIR, REPO_ROOT, SHARED_DATA, write_results

SHARED = SHARED_DATA / "faces_east_asian" / "images"


def build_pairs(count: int, models_dir: Path) -> list[tuple[bytes, bytes]]:
    """(chip JPEG, live 640×480 JPEG) pairs; the live capture is the photo enlarged onto a 640×480 frame."""
    import io

    from realname.adapters.vision.chip_photo import simulate_chip_photo
    from realname.bootstrap.vision import load_onnx_models

    detector = load_onnx_models(models_dir, 1)
    if SHARED.is_dir():
        paths = sorted(SHARED.glob("*__lfw__01.jpg"))[: count * 2]
        photos = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    else:
        import matplotlib.cbook

        grace = Path(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
        astronaut = REPO_ROOT / "tests" / "fixtures" / "faces" / "astronaut_eileen_collins.jpg"
        photos = [np.asarray(Image.open(p).convert("RGB")) for p in (grace, astronaut)] * count
    pairs = []
    for index in range(count):
        id_rgb, live_rgb = photos[(2 * index) % len(photos)], photos[(2 * index + 1) % len(photos)]
        box = detector.detect(id_rgb)[0]
        chip = simulate_chip_photo(id_rgb, (box.x0, box.y0, box.x1, box.y1))
        frame = Image.new("RGB", (640, 480), (90, 90, 90))
        scale = 480 / live_rgb.shape[0]
        enlarged = Image.fromarray(live_rgb).resize((int(live_rgb.shape[1] * scale), 480), Image.Resampling.BILINEAR)
        frame.paste(enlarged, ((640 - enlarged.width) // 2, 0))
        buffer = io.BytesIO()
        frame.save(buffer, format="JPEG", quality=90)
        pairs.append((chip, buffer.getvalue()))
    return pairs


ONE_SCALE = "onnx one alignment scale"
SFACE_ONE_SCALE = "sface chip at one scale"
SFACE_INT8 = "sface int8"
INT8_ENV = "SFACE_INT8_BUILD"  # --int8-build sets it; spawned workers inherit it


def int8_build() -> Path:
    return Path(os.environ.get(INT8_ENV, str(REPO_ROOT / "var" / "bench-cache" / "sface-int8-f10.onnx")))


def _engine(name: str, models_dir: Path, threads: int) -> Any:
    from realname.adapters.vision.onnx_engine import OnnxFaceEngine
    from realname.bootstrap.vision import build_face_engine
    from realname.domain.policy import Policy

    if name == ONE_SCALE:  # what the alignment-scale averaging costs (not a shipped configuration)
        shipped = build_face_engine("onnx", models_dir, threads, Policy())
        assert isinstance(shipped, OnnxFaceEngine)
        return OnnxFaceEngine(
            shipped.models,
            shipped.thresholds,
            threads=threads,
            id_photo_scales=(1.0,),
            live_scales=(1.0,),
        )
    if name in (SFACE_ONE_SCALE, SFACE_INT8):
        from realname.adapters.vision.onnx_models import Embedders, OnnxEmbedder, PixelScaling, session_options

        sface = build_face_engine("sface", models_dir, threads, Policy())
        assert isinstance(sface, OnnxFaceEngine)
        embedders = sface.embedders
        if name == SFACE_INT8:
            import onnxruntime as ort

            session = ort.InferenceSession(str(int8_build()), session_options(1), providers=["CPUExecutionProvider"])
            embedders = Embedders.same(OnnxEmbedder(session, "sface", PixelScaling.RAW))
        return OnnxFaceEngine(
            sface.models,
            sface.thresholds,
            name=name,
            threads=threads,
            embedders=embedders,
            id_photo_scales=(1.0,) if name == SFACE_ONE_SCALE else sface.id_photo_scales,
            live_scales=sface.live_scales,
        )
    return build_face_engine(name, models_dir, threads, Policy())  # type: ignore[arg-type]


def _run_pairs(engine: Any, pairs: list[tuple[bytes, bytes]]) -> list[float]:
    from realname.adapters.vision.images import PillowImageDecoder
    from realname.app.matching import compare_faces
    from realname.domain.policy import Policy

    decoder, policy, times = PillowImageDecoder(), Policy(), []
    for chip, live in pairs:
        started = time.perf_counter()
        compare_faces(chip, live, engine, policy, decoder)
        times.append((time.perf_counter() - started) * 1000.0)
    return times


def _run_verifications(
    engine: Any, pairs: list[tuple[bytes, bytes]], frames: int = 3, cpu: list[float] | None = None
) -> list[float]:
    """ms per verification: decode the chip, ``match_frames`` against ``frames`` live captures (decoded before);
    the process CPU ms of each go to ``cpu`` when given (less sensitive to other work on a shared machine)."""
    from realname.adapters.vision.images import PillowImageDecoder
    from realname.app.matching import match_frames
    from realname.domain.policy import Policy

    decoder, policy, times = PillowImageDecoder(), Policy(), []
    for index, (chip, _) in enumerate(pairs):
        live = [
            decoder.decode(pairs[(index + j) % len(pairs)][1], max_pixels=policy.max_image_pixels)
            for j in range(frames)
        ]
        started, cpu_started = time.perf_counter(), time.process_time()
        id_photo = decoder.decode(chip, max_pixels=policy.max_image_pixels)
        match_frames(id_photo, live, engine, k=frames)
        times.append((time.perf_counter() - started) * 1000.0)
        if cpu is not None:
            cpu.append((time.process_time() - cpu_started) * 1000.0)
    return times


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _worker(name: str, models_dir: str, pairs: list[tuple[bytes, bytes]], queue: Any) -> None:
    engine = _engine(name, Path(models_dir), 1)
    _run_pairs(engine, pairs[:1])
    queue.put(("ready", _rss_mb()))
    started = time.perf_counter()
    _run_pairs(engine, pairs)
    queue.put(("done", time.perf_counter() - started))


def measure(name: str, models_dir: Path, pairs: list[tuple[bytes, bytes]], workers: int) -> dict[str, Any]:
    engine = _engine(name, models_dir, 1)
    _run_pairs(engine, pairs[:2])
    single = _run_pairs(engine, pairs)
    two_threads_engine = _engine(name, models_dir, 2)
    _run_pairs(two_threads_engine, pairs[:2])
    two_threads = _run_pairs(two_threads_engine, pairs)
    verification_cpu: list[float] = []
    verification = _run_verifications(engine, pairs, cpu=verification_cpu)
    verification_two_threads = _run_verifications(two_threads_engine, pairs)
    row = {
        "engine": name,
        "pairs": len(pairs),
        "ms_per_pair_median": round(statistics.median(single), 1),
        "ms_per_pair_p90": round(float(np.percentile(single, 90)), 1),
        "ms_per_pair_median_2_threads": round(statistics.median(two_threads), 1),
        "ms_per_verification_median": round(statistics.median(verification), 1),
        "cpu_ms_per_verification_median": round(statistics.median(verification_cpu), 1),
        "ms_per_verification_median_2_threads": round(statistics.median(verification_two_threads), 1),
        "pairs_per_second_2_workers": float("nan"),
        "worker_rss_mb": float("nan"),
    }
    if workers == 0:
        return row
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_worker, args=(name, str(models_dir), pairs, queue)) for _ in range(workers)]
    for process in processes:
        process.start()
    rss = [queue.get()[1] for _ in processes]
    wall_started = time.perf_counter()
    for _ in processes:
        queue.get()
    wall = time.perf_counter() - wall_started
    for process in processes:
        process.join()
    row["pairs_per_second_2_workers"] = round(workers * len(pairs) / wall, 1)
    row["worker_rss_mb"] = round(max(rss), 0)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=25)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    parser.add_argument(
        "--engines", default=",".join(("sface", "onnx", "dlib", ONE_SCALE, SFACE_ONE_SCALE, SFACE_INT8))
    )
    parser.add_argument(
        "--int8-build", type=Path, help="the int8 SFace to time (default var/bench-cache/sface-int8-f10.onnx)"
    )
    args = parser.parse_args()
    pairs = build_pairs(args.pairs, args.models_dir)
    load_before = os.getloadavg()[0]
    if args.int8_build is not None:
        os.environ[INT8_ENV] = str(args.int8_build)
    names = [n for n in args.engines.split(",") if n != SFACE_INT8 or int8_build().is_file()]
    rows = [measure(name, args.models_dir, pairs, args.workers) for name in names]
    by_name = {r["engine"]: r for r in rows}
    load = (round(load_before, 2), round(os.getloadavg()[0], 2))
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(["benchmarks/face_speed.py", *sys.argv[1:]]),
        "rows": rows,
        "int8_build": str(int8_build()) if SFACE_INT8 in names else None,
        "data": "shared" if SHARED.is_dir() else "fixtures",
        "load_average_1min_before_after": load,
        "cpus": os.cpu_count(),
    }
    if "dlib" in by_name:
        report["speedup_vs_dlib"] = {
            r["engine"]: round(by_name["dlib"]["ms_per_pair_median"] / r["ms_per_pair_median"], 1) for r in rows
        }
    lines = [
        "| engine | ms/pair (median, 1 thread) | p90 | ms/pair (2 threads) | ms/verification: chip + 3 frames "
        "(1 thread) | its CPU ms | (2 threads) | pairs/s (2 workers x 1 thread) | worker RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(
            f"| {r['engine']} | {r['ms_per_pair_median']} | {r['ms_per_pair_p90']} | "
            f"{r['ms_per_pair_median_2_threads']} | {r['ms_per_verification_median']} | "
            f"{r['cpu_ms_per_verification_median']} | "
            f"{r['ms_per_verification_median_2_threads']} | "
            f"{r['pairs_per_second_2_workers']} | {r['worker_rss_mb']:.0f} |"
            for r in rows
        ),
        "",
        f"`{report['command']}` on {report['date']}; {len(pairs)} pairs (102x126 JPEG 2000 chip + 640x480 capture).",
        f"Machine: {os.cpu_count()} CPUs, 1-min load average {load[0]} before / {load[1]} after (shared machine:"
        " other processes inflate the times).",
    ]
    write_results("face_speed", report, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
