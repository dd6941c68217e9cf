"""Throughput of ``realname id check-batch``: JSON Lines in, one result per line out.

Generates a reproducible mix of documents (valid and invalid resident IDs, residence permits,
foreigner permanent residence IDs, travel permits, TD3 zones, broken lines), then times:

1. the ``check-batch`` command run in a fresh Python process (``python -c ... id_group``), stdin from
   a file, stdout to /dev/null — what a script sees, start-up included;
2. ``realname id check-batch`` through the installed console script, when the group is registered;
3. the same command in this process (no start-up), for the per-line cost.

Usage: .venv/bin/python benchmarks/id_check_batch.py [--lines 100000] [--seed 7]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from realname.adapters.cli.id_commands import id_group
from realname.adapters.documents.regions import load_region_directory
from realname.domain.identity.mrz import check_digit
from realname.domain.identity.resident_id import mod11_2_check_char

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _eighteen(rng: random.Random, region: str) -> str:
    birth = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 80))
    body = region + birth.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    return body + mod11_2_check_char(body)


def _td3(rng: random.Random) -> str:
    number = "".join(rng.choice(ALNUM) for _ in range(9))
    birth = (date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 80))).strftime("%y%m%d")
    expiry = (date(2027, 1, 1) + timedelta(days=rng.randrange(365 * 10))).strftime("%y%m%d")
    personal = "<" * 14
    upper = number + str(check_digit(number)) + rng.choice(("CHN", "USA", "DEU", "JPN")) + birth
    upper += str(check_digit(birth))
    lower = rng.choice("MF") + expiry + str(check_digit(expiry)) + personal + str(check_digit(personal))
    line2 = upper + lower + str(check_digit(upper[:10] + upper[13:20] + lower[1:]))
    return ("P<CHNZHANG<<SAN".ljust(44, "<")) + "\n" + line2


def generate(count: int, seed: int) -> list[str]:
    """``count`` JSONL requests: about 70 % valid, the rest broken in the usual ways."""
    rng = random.Random(seed)
    counties = [code for code in load_region_directory().by_code if not code.endswith("00")]
    lines = []
    for _ in range(count):
        roll = rng.random()
        request: dict[str, str] = {}
        if roll < 0.45:
            request["value"] = _eighteen(rng, rng.choice(counties))
            request["expiry"] = rng.choice(("long_term", "2030-05-01", "2021-01-01"))
        elif roll < 0.60:
            valid = _eighteen(rng, rng.choice(counties))
            position = rng.randrange(18)
            request["value"] = valid[:position] + rng.choice("0123456789") + valid[position + 1 :]
        elif roll < 0.65:
            request["value"] = _eighteen(rng, rng.choice(("810000", "820000", "830000")))
        elif roll < 0.70:
            body = "9" + rng.choice(("11", "31", "44")) + "840" + "19800101" + f"{rng.randrange(1000):03d}"
            request["value"] = body + mod11_2_check_char(body)
        elif roll < 0.75:
            request["value"] = rng.choice("HM") + f"{rng.randrange(10**8):08d}"
        elif roll < 0.80:
            request["value"] = f"{rng.randrange(10**8):08d}"
            request["kind"] = "taiwan_permit"
        elif roll < 0.97:
            request["value"] = _td3(rng)
            request["kind"] = "mrz"
        else:
            lines.append(rng.choice(('{"value": 1}', "garbage", '{"value": "x", "today": "nope"}')))
            continue
        request["today"] = "2026-06-15"
        lines.append(json.dumps(request, ensure_ascii=False))
    return lines


def time_in_process(text: str) -> tuple[float, float, int]:
    """Wall-clock and CPU seconds of one in-process run, and the number of result lines."""
    stdin, stdout = io.StringIO(text), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = stdin
    try:
        start, cpu_start = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(stdout), contextlib.suppress(SystemExit):
            id_group.main(["check-batch"], prog_name="realname id", standalone_mode=False)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    finally:
        sys.stdin = old_stdin
    return elapsed, cpu, stdout.getvalue().count("\n")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_subprocess(command: list[str], input_path: Path) -> tuple[float, float, int]:
    """Wall-clock and CPU seconds of one run in a fresh process (start-up included), and its line count."""
    with input_path.open("rb") as stdin, tempfile.TemporaryFile() as stdout:
        start, cpu_start = time.perf_counter(), _children_cpu_seconds()
        subprocess.run(command, stdin=stdin, stdout=stdout, check=True)
        elapsed, cpu = time.perf_counter() - start, _children_cpu_seconds() - cpu_start
        stdout.seek(0)
        return elapsed, cpu, stdout.read().count(b"\n")


def _report(name: str, lines: int, elapsed: float, cpu: float) -> None:
    print(
        f"{name:42s} {elapsed:6.2f} s wall {lines / elapsed:9,.0f} lines/s | {cpu:6.2f} s CPU {lines / cpu:9,.0f} lines/CPU-s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    requests = generate(args.lines, args.seed)
    text = "\n".join(requests) + "\n"
    print(f"{len(requests)} lines, {len(text.encode()) / 1e6:.1f} MB of JSONL")
    with tempfile.TemporaryDirectory() as tmp:
        input_path = Path(tmp) / "requests.jsonl"
        input_path.write_text(text, encoding="utf-8")
        runs = {
            "python -c ...id_group check-batch": [
                sys.executable,
                "-c",
                "from realname.adapters.cli.id_commands import id_group; id_group(prog_name='realname id')",
                "check-batch",
            ]
        }
        console = shutil.which("realname", path=str(Path(sys.executable).parent))
        if console is not None:
            probe = subprocess.run([console, "id", "--help"], capture_output=True, check=False)
            if probe.returncode == 0:
                runs["realname id check-batch"] = [console, "id", "check-batch"]
            else:
                print("realname id is not registered yet: console-script run skipped")
        for name, command in runs.items():
            elapsed, cpu, answered = time_subprocess(command, input_path)
            assert answered == len(requests), (answered, len(requests))
            _report(name, len(requests), elapsed, cpu)
    elapsed, cpu, answered = time_in_process(text)
    assert answered == len(requests), (answered, len(requests))
    _report("in-process id_group check-batch", len(requests), elapsed, cpu)
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
