"""``realname liveness detect|check`` through click: the fixed JSON contract, exit codes, real clips."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from realname.adapters.cli.liveness_commands import liveness_group
from realname.adapters.vision.onnx_models import OnnxFaceModels
from realname.app.liveness import LivenessChecker
from realname.bootstrap.liveness import build_liveness_checker
from realname.domain.liveness import LivenessThresholds
from realname.domain.policy import Policy
from tests.conftest import IN_CI, REPO_ROOT
from tests.unit.liveness.fakes import SeriesAnalyser, SeriesDecoder
from tests.unit.liveness.series import blink, frontal, turn

MODELS_DIR = Path(os.environ.get("REALNAME_MODELS_DIR", REPO_ROOT / "var" / "models"))
DETECT_KEYS = {"actions_detected", "faces_max", "spoof_suspected", "reasons"}
CHECK_KEYS = {"passed", "reasons", "actions_detected", "spoof_suspected"}


class Services:
    def __init__(self, checker: LivenessChecker) -> None:
        self._checker = checker

    def liveness_checker(self) -> LivenessChecker:
        return self._checker

    def policy(self) -> Policy:
        return Policy()


def fake_services() -> Services:
    # turn_left 1.0–2.5 s, then a blink at 3.5 s.
    decoder = SeriesDecoder({b"left-then-blink": blink(turn(frontal(6.0), 1.0, 2.5, yaw=30.0), 3.5, 3.6)})
    return Services(LivenessChecker(decoder, SeriesAnalyser(decoder), LivenessThresholds()))


def invoke(services: Services, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(liveness_group, list(args), obj=services)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def fake_clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.webm"
    path.write_bytes(b"left-then-blink")
    return path


def test_detect_json_has_exactly_the_contract_keys(fake_clip: Path) -> None:
    code, out, _ = invoke(fake_services(), "detect", str(fake_clip), "--json")
    assert code == 0
    payload = json.loads(out)
    assert set(payload) == DETECT_KEYS
    assert [a["action"] for a in payload["actions_detected"]] == ["turn_left", "blink"]
    assert set(payload["actions_detected"][0]) == {"action", "start_s", "end_s"}
    assert payload["faces_max"] == 1
    assert payload["spoof_suspected"] is False
    assert payload["reasons"] == []


def test_check_json_respects_the_order_given(fake_clip: Path) -> None:
    code, out, _ = invoke(fake_services(), "check", str(fake_clip), "--actions", "turn_left,blink", "--json")
    assert code == 0
    payload = json.loads(out)
    assert set(payload) == CHECK_KEYS
    assert payload["passed"] is True
    code, out, _ = invoke(fake_services(), "check", str(fake_clip), "--actions", "blink,turn_left", "--json")
    assert code == 1  # checked, rejected
    assert json.loads(out) == {**json.loads(out), "passed": False, "reasons": ["liveness.action_order"]}


def test_check_prints_a_readable_verdict_without_json(fake_clip: Path) -> None:
    code, out, err = invoke(fake_services(), "check", str(fake_clip), "--actions", "turn_right")
    assert code == 1 and err == ""
    assert out.startswith("REJECTED")
    assert "liveness.action_missing" in out


def test_unknown_action_names_exit_2_with_a_coded_error(fake_clip: Path) -> None:
    code, _, err = invoke(fake_services(), "check", str(fake_clip), "--actions", "blink,smile", "--json")
    assert code == 2
    assert "[liveness.actions_invalid]" in err


def test_an_undecodable_clip_exits_2_with_a_coded_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.mp4"
    path.write_bytes(b"junk")
    code, _, err = invoke(fake_services(), "detect", str(path), "--json")
    assert code == 2
    assert "[liveness.clip_invalid]" in err


@pytest.fixture(scope="module")
def real_services() -> Services:
    if not (MODELS_DIR / "fr_detect.onnx").is_file():
        message = f"needs the face models in {MODELS_DIR} (run `realname models fetch --dest var/models`)"
        if IN_CI:
            pytest.fail(message + " (CI=true: models must be installed)")
        pytest.skip(message)
    return Services(build_liveness_checker(OnnxFaceModels.load(MODELS_DIR, threads=1), Policy()))


def test_real_clip_detect_and_check(real_services: Services, shared_data: Path) -> None:
    clip = str(shared_data / "liveness" / "tvl_real_turnR_turnL.mp4")
    code, out, _ = invoke(real_services, "detect", clip, "--json")
    assert code == 0
    detected = json.loads(out)
    assert [a["action"] for a in detected["actions_detected"] if a["action"] != "blink"] == ["turn_left", "turn_right"]
    assert detected["faces_max"] == 1 and detected["spoof_suspected"] is False
    code, out, _ = invoke(real_services, "check", clip, "--actions", "turn_left,turn_right", "--json")
    assert json.loads(out)["passed"] is True and code == 0
    code, out, _ = invoke(real_services, "check", clip, "--actions", "turn_right,turn_left", "--json")
    assert json.loads(out)["passed"] is False and code == 1


def test_real_screen_replay_is_reported_as_spoof(real_services: Services, shared_data: Path) -> None:
    clip = str(shared_data / "liveness" / "tvl_screenreplay_turnR_turnL.mp4")
    code, out, _ = invoke(real_services, "check", clip, "--actions", "turn_left,turn_right", "--json")
    assert code == 1
    payload = json.loads(out)
    assert payload["passed"] is False
    assert payload["spoof_suspected"] is True
    assert "liveness.spoof_suspected" in payload["reasons"]
