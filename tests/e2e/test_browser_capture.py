"""The kiosk's capture step in Chromium: the "ready?" step with its framing guide (a real clip as the camera,
and the same clip made too far, too dark and doubled), and a message of its own for each camera failure (no
camera, permission denied, a camera that cannot start)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import REPO_ROOT
from tests.e2e.browser_support import CHROMIUM, CHROMIUM_ARGS, live_server, require_browser_tools
from tests.e2e.test_browser_kiosk import REAL_CLIP, REAL_CLIP_ACTIONS, TABLET, Kiosk, kiosk_page

CHIP_PHOTO = REPO_ROOT / "tests" / "fixtures" / "faces" / "astronaut_eileen_collins.jpg"
FAKE_CAMERA = "--use-fake-device-for-media-stream"
FAKE_PERMISSION_PROMPT = "--use-fake-ui-for-media-stream"


@contextmanager
def kiosk_with(tmp_path: Path, args: Sequence[str], *, grant_camera: bool) -> Iterator[Kiosk]:
    """The live server and Chromium launched with ``args`` (its camera set up by them)."""
    with (
        live_server(
            tmp_path / "data", REAL_CLIP_ACTIONS, challenge_actions=2, reader_bridge_url="http://127.0.0.1:9"
        ) as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(args), headless=True)
        try:
            yield kiosk_page(browser, server, TABLET, grant_camera=grant_camera)
        finally:
            browser.close()


def to_capture_step(kiosk: Kiosk) -> None:
    """Sign in, type the document with a chip photo, consent: the capture step opens the camera."""
    kiosk.sign_in()
    kiosk.reach_consent(CHIP_PHOTO, "register")
    kiosk.p.click("#consent-accept")
    kiosk.wait_state("challenge")


def challenges_drawn(kiosk: Kiosk) -> int:
    return sum(1 for line in kiosk.traffic if line.startswith("POST ") and "/challenge " in line)


CAMERA_FAILURES = {
    # No fake camera and none on the machine: getUserMedia finds no device (NotFoundError).
    "not_found": ([], True, "camera.not_found", "未找到摄像头", "No camera found"),
    # A fake camera, but the permission prompt is not answered yes and nothing was granted (NotAllowedError).
    "denied": ([FAKE_CAMERA], False, "camera.denied", "浏览器无权使用摄像头", "not allowed to use the camera"),
    # A camera held by another program: Chromium answers NotReadableError. Its fake devices cannot be made busy
    # (a missing, empty or broken Y4M gives NotFoundError: tried), so the browser's answer for a busy device is
    # given by the device layer below the page (BUSY_CAMERA); the page's code runs unchanged.
    "busy": (
        [FAKE_CAMERA, FAKE_PERMISSION_PROMPT],
        True,
        "camera.busy",
        "摄像头被占用或无法启动",
        "busy or failed to start",
    ),
}
BUSY_CAMERA = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Could not start video source", "NotReadableError"));
"""


@pytest.mark.browser
@pytest.mark.parametrize("failure", sorted(CAMERA_FAILURES))
def test_each_camera_failure_has_its_own_message(tmp_path: Path, failure: str) -> None:
    require_browser_tools()
    camera_args, grant, code, chinese, english = CAMERA_FAILURES[failure]
    base = [a for a in CHROMIUM_ARGS if a not in (FAKE_CAMERA, FAKE_PERMISSION_PROMPT)]
    with kiosk_with(tmp_path, [*base, *camera_args], grant_camera=grant) as kiosk:
        p = kiosk.p
        if failure == "busy":
            p.add_init_script(BUSY_CAMERA)
        kiosk.switch(f"camera-{failure}")
        to_capture_step(kiosk)
        p.wait_for_selector(f'#camera-problem-text[data-code="{code}"]', timeout=30_000)
        kiosk.shot("camera-problem")
        assert p.is_visible("#camera-problem") and p.is_visible("#camera-retry")
        assert chinese in (p.text_content("#camera-problem-text") or "")
        assert p.get_attribute("#error", "data-code") == code and chinese in (p.text_content("#error") or "")
        assert p.get_attribute("main#app", "data-state") == "challenge"  # no decision screen: nothing was decided
        assert challenges_drawn(kiosk) == 0  # the camera fails before a challenge is drawn: none is burnt
        # In English on request; "try again" tries the camera again.
        p.select_option("#lang", "en")
        p.click("#camera-retry")
        p.wait_for_function(
            "text => document.getElementById('camera-problem-text').textContent.includes(text)", arg=english
        )
        assert p.get_attribute("#camera-problem-text", "data-code") == code
        assert challenges_drawn(kiosk) == 0


def make_camera(clip: Path, out: Path, video_filter: str | None) -> Path:
    """A Y4M of the real clip for Chromium's fake camera (15 fps), through an ffmpeg filter when given."""
    command = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip), "-t", "10", "-r", "15"]
    if video_filter:
        command += ["-vf", video_filter]
    subprocess.run([*command, "-pix_fmt", "yuv420p", str(out)], check=True, timeout=180)
    return out


# The real clip as filmed (the face is 0.38-0.49 of the frame's height throughout), and made into the problems
# the guide names: shrunk into the middle of a grey 640×480 picture (face about 0.17 high; a black border would
# make the picture read too dark), a fifth of the light, and
# two people side by side.
FRAMING_CAMERAS = {
    "ready": None,
    "too_far": "scale=iw/2.6:ih/2.6,pad=640:480:(ow-iw)/2:(oh-ih)/2:color=gray",
    "too_dark": "lutyuv=y=val*0.2",
    "multiple_faces": "split[a][b];[a][b]hstack",
}


@pytest.mark.browser
@pytest.mark.shared
@pytest.mark.parametrize("framing", sorted(FRAMING_CAMERAS))
def test_the_framing_guide_says_what_to_fix_before_recording(shared_data: Path, tmp_path: Path, framing: str) -> None:
    require_browser_tools()
    camera = make_camera(shared_data / "liveness" / REAL_CLIP, tmp_path / "camera.y4m", FRAMING_CAMERAS[framing])
    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={camera}"]
    with kiosk_with(tmp_path, args, grant_camera=True) as kiosk:
        p = kiosk.p
        kiosk.switch(f"framing-{framing}")
        to_capture_step(kiosk)
        try:
            p.wait_for_selector(f'#framing-guide[data-framing="{framing}"]', timeout=60_000)
        finally:
            kiosk.shot("framing")
            shown = p.get_attribute("#framing-guide", "data-framing")
            assert shown == framing, f"the guide says {shown!r}; traffic: {kiosk.traffic[-6:]}"
        assert p.is_visible("#ready-step")
        start_enabled = p.is_enabled("#capture-start")
        assert start_enabled == (framing == "ready")
        assert challenges_drawn(kiosk) == 0 and p.get_attribute("main#app", "data-recording") != "on"
        framing_calls = [t for t in kiosk.traffic if t.startswith("POST ") and "/framing " in t]
        if framing == "too_dark":
            assert framing_calls == []  # too dark is judged in the page: no frame was sent
        else:
            assert framing_calls and all(t.endswith(" 200") for t in framing_calls), kiosk.traffic
        if framing == "ready":
            assert "位置合适" in (p.text_content("#framing-text") or "")
            p.click("#capture-start")
            p.wait_for_selector('main#app[data-recording="on"]', timeout=30_000)
            assert challenges_drawn(kiosk) == 1  # drawn when Start was pressed
            assert p.is_hidden("#ready-step") and p.get_attribute("#prompt", "data-action") == "turn_left"
        else:
            p.click("#capture-start", force=True)  # a disabled Start does nothing
            p.wait_for_timeout(500)
            assert challenges_drawn(kiosk) == 0 and p.get_attribute("main#app", "data-recording") != "on"
