"""``realname demo`` end to end: registrations through the real HTTP API in-process, and the report it writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from realname.adapters.cli.demo_commands import DemoService, demo_command
from realname.app.ports import RandomSource
from realname.bootstrap import Container
from realname.config import PolicySettings
from realname.domain.identity.resident_id import mod11_2_check_char
from tests.e2e.conftest import settings_for


class DemoWiringForTests:
    """What the composition root provides to the demo, on the test models folder."""

    def demo_container(self, data_dir: Path, random: RandomSource, challenge_actions: int) -> DemoService:
        settings = settings_for(data_dir, policy=PolicySettings(challenge_actions=challenge_actions))
        return Container(settings, random=random)


def run_demo(tmp_path: Path, *args: str) -> tuple[int, str, dict[str, Any]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    report = tmp_path / "report.json"
    result = CliRunner().invoke(demo_command, [*args, "--report", str(report)], obj=DemoWiringForTests())
    body = json.loads(report.read_text()) if report.exists() else {}
    return result.exit_code, result.output + (str(result.exception) if result.exception else ""), body


@pytest.mark.shared
def test_demo_completes_registrations_with_real_clips(shared_data: Path, tmp_path: Path) -> None:
    code, output, report = run_demo(
        tmp_path, "--registrations", "2", "--seed", "7", "--media-dir", str(shared_data / "liveness")
    )
    registrations = report["registrations"]
    assert code == 0, f"{output}\n{json.dumps(registrations, indent=1)}"
    assert report["completed"] == 2 and "2 of 2 registrations completed" in output
    ids = [r["identity"]["id_number"] for r in registrations]
    assert len(set(ids)) == 2 and all(mod11_2_check_char(i) == i[17] for i in ids)
    numbers = [r["number"] for r in registrations]
    assert len(set(numbers)) == 2
    for item in registrations:
        assert item["outcome"] == "completed" and item["actions_asked"] == ["turn_left", "turn_right"]
        assert item["receipt"]["number"] != item["number"] and "*" in item["receipt"]["number"]
        assert item["receipt"]["outlet"] == "DEMO-01"


def test_same_seed_picks_the_same_identities(tmp_path: Path) -> None:
    first = run_demo(tmp_path / "a", "--registrations", "1", "--seed", "3", "--generated")[2]
    second = run_demo(tmp_path / "b", "--registrations", "1", "--seed", "3", "--generated")[2]
    other = run_demo(tmp_path / "c", "--registrations", "1", "--seed", "4", "--generated")[2]
    identity = [r["registrations"][0]["identity"] for r in (first, second, other)]
    assert identity[0] == identity[1] != identity[2]


def test_generated_fallback_runs_the_api_path_to_an_audited_rejection(tmp_path: Path) -> None:
    code, output, report = run_demo(tmp_path, "--registrations", "1", "--seed", "5", "--generated")
    assert code == 0, output
    assert report["media"] == "generated" and "nothing is approved" in str(report["what_this_proves"])
    (item,) = report["registrations"]
    assert item["outcome"] == "rejected" and item["reason_category"], item
    assert item["number"] is None and report["completed"] == 0


def test_demo_says_so_when_the_container_does_not_wire_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(demo_command, ["--report", str(tmp_path / "r.json")], obj=object())
    assert result.exit_code == 2 and "demo_container" in result.output
