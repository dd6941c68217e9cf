"""``realname demo``: N complete registrations through the real HTTP API, in-process, to see the whole flow work.

The command builds a fresh service (a temporary data folder unless ``--data-dir``), sets up an outlet, a clerk
and a number pool, then for each registration drives the same ``/v1`` calls the kiosk page makes: sign-in,
attempt, document, consent, challenge, liveness upload with an ID photo, number, reservation, completion with
an Idempotency-Key. The identities are synthetic (valid resident ID numbers made from the seed); the faces come
from the real clips in ``../shared/data/liveness`` when present. The service is asked for exactly the actions
each clip performs (through the injectable randomness), as a customer would follow the prompts.

Without the shared clips, the fallback uploads a generated clip without a face: every attempt runs the whole
API path up to a recorded, audited rejection, but nothing is approved or registered. The report says which.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import secrets
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

import click
import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from realname.adapters.http.app import create_app
from realname.adapters.http.reader import document_fields, signed_reader_headers
from realname.adapters.http.services import HttpServices
from realname.app.actors import OPERATOR_CLI
from realname.app.ports import RandomSource
from realname.app.registry import Registry
from realname.app.terminals import Terminals
from realname.domain.identity.resident_id import mod11_2_check_char
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role

DEMO_OUTLET: Final = "DEMO-01"
DEMO_DEVICE: Final = "demo-kiosk-1"
DEMO_NUMBER_BASE: Final = 17_000_000_000
DEMO_REGIONS: Final = ("110105", "310104", "440305", "330106", "510107", "420106", "320102", "610113")
SHARED_LIVENESS: Final = Path(__file__).resolve().parents[4].parent / "shared" / "data" / "liveness"


class DemoService(Protocol):
    """One service on one data folder, as the composition root wires it."""

    def initialise(self) -> object:
        """Create the data folder, key file and schema (idempotent)."""
        ...

    def registry(self) -> Registry: ...

    def terminals(self) -> Terminals: ...

    def http_services(self) -> HttpServices: ...


class DemoWiring(Protocol):
    """What ``realname demo`` needs from ``click.get_current_context().obj`` (the composition root)."""

    def demo_container(self, data_dir: Path, random: RandomSource, challenge_actions: int) -> DemoService:
        """A service on ``data_dir`` whose challenges ask for ``challenge_actions`` actions, ordered by ``random``."""
        ...


@dataclass(frozen=True, slots=True)
class Performance:
    """A real clip, the actions its subject performs (in the subject's directions, in order), an ID-photo source."""

    clip: str
    actions: tuple[str, ...]
    photo_clip: str
    photo_window_seconds: tuple[float, float]
    """A span of ``photo_clip`` where the same person looks straight at the camera."""


# The one shared clip with two labelled actions; its ID photo is a frontal moment of it or of another clip of
# the same man (labels in ../shared/data/liveness/README.txt).
PERFORMANCES: Final = (
    Performance("tvl_real_turnR_turnL.mp4", ("turn_left", "turn_right"), "tvl_real_turnR_turnL.mp4", (4.7, 6.1)),
    Performance("tvl_real_turnR_turnL.mp4", ("turn_left", "turn_right"), "tvl_real_nod_down_up.mp4", (7.4, 9.5)),
)
CHALLENGE_ACTIONS: Final = 2


class ChoreographedRandom:
    """Secure randomness, except that challenges ask first for the actions of the clip about to be shown."""

    def __init__(self) -> None:
        self.next_actions: tuple[str, ...] = ()

    def token_bytes(self, n: int) -> bytes:
        return secrets.token_bytes(n)

    def shuffle(self, items: list[str]) -> list[str]:
        leading = [item for item in self.next_actions if item in items]
        rest = [item for item in items if item not in leading]
        random.SystemRandom().shuffle(rest)
        return leading + rest


@dataclass(frozen=True, slots=True)
class Identity:
    id_number: str
    birth_date: date
    expiry: date
    sex: str


@dataclass(slots=True)
class RegistrationReport:
    index: int
    identity: dict[str, str]
    clip: str
    id_photo: str
    actions_asked: list[str]
    outcome: str = "not_started"
    reason_category: str | None = None
    number: str | None = None
    iccid: str | None = None
    receipt: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    seconds: float = 0.0


@dataclass(slots=True)
class DemoReport:
    seed: int
    registrations_requested: int
    media: str
    what_this_proves: str
    data_dir: str | None
    registrations: list[RegistrationReport] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return sum(1 for r in self.registrations if r.outcome == "completed")


class DemoStepFailed(click.ClickException):
    exit_code = 1


# --- synthetic inputs ---------------------------------------------------------------------------------------------


def synthetic_identity(rng: random.Random, today: date) -> Identity:
    """A valid 18-digit resident ID number (region, birth date, male sequence, MOD 11-2) with a future expiry."""
    birth = date(1960, 1, 1) + timedelta(days=rng.randrange(0, 365 * 40))
    sequence = f"{rng.randrange(0, 100):02d}{rng.choice('13579')}"  # odd: male, like the man in the clips
    body = f"{rng.choice(DEMO_REGIONS)}{birth:%Y%m%d}{sequence}"
    expiry = today + timedelta(days=rng.randrange(200, 3000))
    return Identity(body + mod11_2_check_char(body), birth, expiry, "M")


def synthetic_iccid(rng: random.Random) -> str:
    """A 20-digit ICCID (89 86 01 … + Luhn check digit)."""
    body = "898601" + "".join(str(rng.randrange(10)) for _ in range(13))
    total = 0
    for i, char in enumerate(reversed(body)):
        value = int(char) * (2 if i % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str((10 - total % 10) % 10)


# --- media --------------------------------------------------------------------------------------------------------


def id_photo_jpeg(clip: Path, at_seconds: float) -> bytes:
    """A chip-like ID photo: the frame at ``at_seconds``, cropped around the one face, reduced to 102×126 JPEG."""
    import av
    import dlib
    import numpy as np
    from PIL import Image

    frame_rgb: np.ndarray[Any, Any] | None = None
    with av.open(str(clip)) as container:
        for frame in container.decode(container.streams.video[0]):
            if frame.time is not None and frame.time >= at_seconds:
                frame_rgb = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
                break
    if frame_rgb is None:
        raise DemoStepFailed(f"{clip.name} has no frame at {at_seconds:.2f} s")
    faces = dlib.get_frontal_face_detector()(frame_rgb, 1)
    if len(faces) != 1:
        raise DemoStepFailed(f"expected one face in {clip.name} at {at_seconds:.2f} s, found {len(faces)}")
    face = faces[0]
    height, width = frame_rgb.shape[:2]
    centre_x, centre_y = (face.left() + face.right()) / 2, (face.top() + face.bottom()) / 2
    crop_h = min(height, min(width, 1.9 * face.width()) * 126 / 102)
    crop_w = crop_h * 102 / 126
    left = int(max(0, min(width - crop_w, centre_x - crop_w / 2)))
    top = int(max(0, min(height - crop_h, centre_y - crop_h * 0.45)))
    photo = Image.fromarray(frame_rgb).crop((left, top, left + int(crop_w), top + int(crop_h)))
    out = io.BytesIO()
    photo.resize((102, 126), Image.Resampling.LANCZOS).save(out, format="JPEG", quality=85)
    return out.getvalue()


def generated_clip_and_photo(rng: random.Random) -> tuple[bytes, bytes]:
    """A 3 s 15 fps WebM of a plain moving ellipse (no face) and a 102×126 JPEG of the same: the fallback."""
    import av
    import numpy as np
    from PIL import Image, ImageDraw

    shade = rng.randrange(90, 170)

    def frame(offset: int) -> Image.Image:
        image = Image.new("RGB", (320, 240), (shade, shade, shade))
        ImageDraw.Draw(image).ellipse((110 + offset, 50, 210 + offset, 190), fill=(200, 160, 140))
        return image

    out = io.BytesIO()
    with av.open(out, mode="w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=15)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(45):
            picture = av.VideoFrame.from_ndarray(np.asarray(frame(int(20 * np.sin(i / 7)))), format="rgb24")
            for packet in stream.encode(picture):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    photo = io.BytesIO()
    frame(0).resize((102, 126)).save(photo, format="JPEG", quality=85)
    return out.getvalue(), photo.getvalue()


# --- the run ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoTerminal:
    """The demo store's kiosk, enrolled like any terminal (its key lives only in this process)."""

    terminal_id: str
    key: Ed25519PrivateKey

    def headers(self, attempt_id: str, fields: list[str | None], portrait: bytes | None = None) -> dict[str, str]:
        return signed_reader_headers(
            self.key, self.terminal_id, attempt_id, fields=fields, portrait=portrait, now=datetime.now(UTC)
        )


class DemoClient:
    """The ``/v1`` calls the kiosk makes, each checked for the expected status."""

    def __init__(self, client: httpx.AsyncClient, terminal: DemoTerminal) -> None:
        self._client = client
        self.terminal = terminal
        self.headers: dict[str, str] = {}

    async def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> dict[str, Any]:
        response = await self._client.request(
            method, path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )
        if response.status_code != expect:
            try:
                body = response.json()
            except ValueError:
                body = {"code": f"http.{response.status_code}", "message": response.text[:200]}
            raise ApiRefused(method, path, response.status_code, body.get("code", "?"), body.get("message", ""))
        answer: dict[str, Any] = response.json()
        return answer


class ApiRefused(Exception):
    def __init__(self, method: str, path: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{method} {path} → {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


async def register_one(
    api: DemoClient,
    item: RegistrationReport,
    identity: Identity,
    clip: tuple[str, bytes],
    photo: bytes,
    rng: random.Random,
) -> None:
    attempt = await api.call("POST", "/v1/attempts", 201, json={"purpose": "register", "device_id": DEMO_DEVICE})
    base = f"/v1/attempts/{attempt['id']}"
    body: dict[str, object] = {
        "kind": "cn_resident",
        "value": identity.id_number,
        "expiry": identity.expiry.isoformat(),
        "birth_date": identity.birth_date.isoformat(),
    }
    fields = document_fields(body)
    document = await api.call(
        "POST", f"{base}/document", json=body, headers=api.terminal.headers(attempt["id"], fields)
    )
    if not document["check"]["valid"]:
        item.outcome, item.reason_category = "document_refused", ",".join(document["check"]["reasons"])
        return
    consent = await api.call("GET", "/v1/consent")
    await api.call("POST", f"{base}/consent", json={"version": consent["version"], "accepted": True})
    challenge = await api.call("POST", f"{base}/challenge")
    item.actions_asked = list(challenge["actions"])
    name, clip_bytes = clip
    media_type = "video/mp4" if name.endswith(".mp4") else "video/webm"
    decision = await api.call(
        "POST",
        f"{base}/liveness",
        headers=api.terminal.headers(attempt["id"], fields, photo),
        data={"nonce": challenge["nonce"]},
        files={"clip": (name, clip_bytes, media_type), "id_photo": ("chip-photo.jpg", photo, "image/jpeg")},
    )
    if not decision["passed"]:
        item.outcome, item.reason_category = "rejected", decision["reason_category"]
        return
    item.outcome = "approved"
    page = await api.call("GET", "/v1/numbers/available", params={"limit": 20})
    if not page["numbers"]:
        raise DemoStepFailed("the demo number pool is empty")
    msisdn = rng.choice(page["numbers"])["msisdn"]
    await api.call("POST", f"{base}/reservation", json={"msisdn": msisdn})
    iccid = synthetic_iccid(rng)
    key = f"demo-{rng.getrandbits(64):016x}"
    receipt = await api.call(
        "POST", f"{base}/registration", json={"msisdn": msisdn, "iccid": iccid}, headers={"Idempotency-Key": key}
    )
    again = await api.call(
        "POST", f"{base}/registration", json={"msisdn": msisdn, "iccid": iccid}, headers={"Idempotency-Key": key}
    )
    if again != receipt:
        raise DemoStepFailed("a retry with the same Idempotency-Key returned a different receipt")
    item.outcome, item.number, item.iccid, item.receipt = "completed", msisdn, iccid, receipt


async def run_demo(service: DemoService, chooser: ChoreographedRandom, report: DemoReport, media: Path | None) -> None:
    registry = service.registry()
    registry.add_outlet(OPERATOR_CLI, DEMO_OUTLET, "Demo store")
    # The demo's clerk keeps the password it was given (a real member chooses their own at the first sign-in).
    clerk = registry.add_staff(OPERATOR_CLI, "Demo Clerk", Role.CLERK, DEMO_OUTLET, password_change_required=False)
    pool = [Msisdn.parse(str(DEMO_NUMBER_BASE + n)) for n in range(max(50, 4 * report.registrations_requested))]
    registry.import_numbers(OPERATOR_CLI, pool, source="demo")
    key = Ed25519PrivateKey.generate()
    enrolled = service.terminals().enroll(
        OPERATOR_CLI, DEMO_OUTLET, "Demo kiosk", key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    app = create_app(service.http_services())
    rng = random.Random(report.seed)
    today = date.today()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://demo.invalid"
    ) as client:
        api = DemoClient(client, DemoTerminal(enrolled.id, key))
        token = await api.call(
            "POST", "/v1/auth/token", json={"staff_code": clerk.staff_code, "password": clerk.password}
        )
        api.headers = {"Authorization": f"Bearer {token['token']}"}
        for index in range(1, report.registrations_requested + 1):
            identity = synthetic_identity(rng, today)
            if media is not None:
                chosen = rng.choice(PERFORMANCES)
                at_seconds = round(rng.uniform(*chosen.photo_window_seconds), 2)
                clip = (chosen.clip, (media / chosen.clip).read_bytes())
                photo = id_photo_jpeg(media / chosen.photo_clip, at_seconds)
                photo_source = f"{chosen.photo_clip}@{at_seconds:.2f}s"
                chooser.next_actions = chosen.actions
            else:
                clip_bytes, photo = generated_clip_and_photo(rng)
                clip, photo_source = ("generated.webm", clip_bytes), "generated"
                chooser.next_actions = ()
            item = RegistrationReport(
                index=index,
                identity={k: str(v) for k, v in asdict(identity).items()},
                clip=clip[0],
                id_photo=photo_source,
                actions_asked=[],
            )
            report.registrations.append(item)
            started = time.perf_counter()
            try:
                await register_one(api, item, identity, clip, photo, rng)
            except ApiRefused as exc:
                item.outcome = "error"
                item.error = {"status": str(exc.status), "code": exc.code, "message": exc.message}
            item.seconds = round(time.perf_counter() - started, 2)
            click.echo(
                f"[{index}/{report.registrations_requested}] {identity.id_number[:6]}… {item.clip}: {item.outcome}"
                + (f" ({item.reason_category})" if item.reason_category else "")
                + (f" number {item.number}" if item.number else "")
                + (f" {item.error['code']}" if item.error else "")
                + f" in {item.seconds:.1f} s"
            )


@contextmanager
def demo_folder(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is not None:
        yield data_dir
        return
    with tempfile.TemporaryDirectory(prefix="realname-demo-") as folder:
        yield Path(folder) / "data"


def _media_dir(media_dir: Path | None) -> Path | None:
    chosen = media_dir or SHARED_LIVENESS
    needed: Sequence[str] = sorted({p.clip for p in PERFORMANCES} | {p.photo_clip for p in PERFORMANCES})
    if all((chosen / name).is_file() for name in needed):
        return chosen
    if media_dir is not None:
        raise click.BadParameter(f"{media_dir} lacks {', '.join(needed)}", param_hint="--media-dir")
    return None


@click.command("demo")
@click.option("--registrations", "count", type=click.IntRange(1, 100), default=3, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Picks identities, clips, photos and numbers.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Use (and keep) this data folder instead of a fresh temporary one.",
)
@click.option(
    "--media-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Folder with the liveness clips (default: ../shared/data/liveness next to the repository).",
)
@click.option("--generated", is_flag=True, help="Use generated clips without a face even if real clips are present.")
def demo_command(
    count: int, seed: int, report_path: Path, data_dir: Path | None, media_dir: Path | None, generated: bool
) -> None:
    """Drive N complete registrations through the HTTP API in-process and write what it used to REPORT."""
    wiring: DemoWiring = click.get_current_context().find_root().obj
    if not hasattr(wiring, "demo_container"):
        raise click.UsageError("this build does not wire the demo (the container lacks demo_container)")
    media = None if generated else _media_dir(media_dir)
    report = DemoReport(
        seed=seed,
        registrations_requested=count,
        media=str(media) if media else "generated",
        what_this_proves=(
            "real clips and ID photos of one real person: liveness, 1:1 match and registration end to end"
            if media
            else "generated clips without a face: the API path up to an audited rejection; nothing is approved"
        ),
        data_dir=str(data_dir) if data_dir else None,
    )
    chooser = ChoreographedRandom()
    with demo_folder(data_dir) as folder:
        service = wiring.demo_container(folder, chooser, CHALLENGE_ACTIONS)
        service.initialise()
        try:
            asyncio.run(run_demo(service, chooser, report, media))
        finally:
            report_path.write_text(json.dumps(_report_dict(report), indent=2, ensure_ascii=False) + "\n")
    click.echo(f"{report.completed} of {count} registrations completed; report written to {report_path}")
    if media is not None and report.completed != count:
        raise DemoStepFailed("some registrations with real clips did not complete; see the report")


def _report_dict(report: DemoReport) -> dict[str, Any]:
    body = asdict(report)
    body["completed"] = report.completed
    return body
