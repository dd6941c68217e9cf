"""``realname party`` as an operator runs it: the installed script in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli_registry import run


def test_party_lifecycle_from_the_command_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert run(data_dir, "init").returncode == 0
    added = run(
        data_dir,
        "party",
        "add",
        "demo-bank",
        "--name",
        "Demo Bank",
        "--purpose",
        "opening accounts",
        "--contact",
        "risk@demo-bank.example",
        "--kinds",
        "two_element,status",
        "--daily-quota",
        "500",
    )
    assert added.returncode == 0, added.stderr
    secret = next(line.split()[-1] for line in added.stdout.splitlines() if line.startswith("client secret"))
    assert len(secret) >= 40 and "shown only once" in added.stderr

    listed = run(data_dir, "party", "list", "--json")
    (party,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert party["kinds"] == ["status", "two_element"] and party["daily_quota"] == 500
    assert party["status"] == "active" and party["contact"] == "risk@demo-bank.example"
    assert secret not in listed.stdout

    again = run(data_dir, "party", "add", "demo-bank", "--name", "X", "--purpose", "Y", "--contact", "Z")
    assert again.returncode == 4 and "[party.exists]" in again.stderr
    bad_kind = run(
        data_dir, "party", "add", "other", "--name", "X", "--purpose", "Y", "--contact", "Z", "--kinds", "all"
    )
    assert bad_kind.returncode == 2

    rotated = run(data_dir, "party", "rotate-secret", "demo-bank")
    assert rotated.returncode == 0 and secret not in rotated.stdout and "secret version 2" in rotated.stdout
    assert run(data_dir, "party", "disable", "demo-bank").returncode == 0
    twice = run(data_dir, "party", "disable", "demo-bank")
    assert twice.returncode == 4 and "[party.unchanged]" in twice.stderr
    assert json.loads(run(data_dir, "party", "list", "--json").stdout)["status"] == "disabled"
    assert run(data_dir, "party", "enable", "demo-bank").returncode == 0
    missing = run(data_dir, "party", "enable", "no-such-party")
    assert missing.returncode == 3 and "[party.not_found]" in missing.stderr
    forgotten = run(data_dir, "party", "forget-nonces")
    assert forgotten.returncode == 0 and "forgot 0 nonces" in forgotten.stdout
    audit = run(data_dir, "audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    key_file = (data_dir / "keys.json").read_text()
    assert secret not in key_file
