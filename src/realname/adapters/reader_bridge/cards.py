"""ID cards as the reader bridge delivers them (protocol ``realname.reader-bridge.v1``, docs/reader-bridge.md).

A :class:`BridgeCard` is one card's chip data (the fields, the decoded chip portrait) and, when the counter has
a document camera (高拍仪), the card-front image. The simulator serves them from a folder
(:func:`load_cards`) or from :func:`builtin_cards`; :meth:`BridgeCard.as_json` is the card object on the wire.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final, Literal

PROTOCOL: Final = "realname.reader-bridge.v1"
KINDS: Final = frozenset(
    {"cn_resident", "cn_residence_permit", "cn_foreign_permanent", "hk_macau_permit", "taiwan_permit"}
)
IMAGE_TYPES: Final = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
MAX_IMAGE_BYTES: Final = 4 * 1024 * 1024


class CardFileInvalid(ValueError):
    """A card folder that does not hold a card the protocol can carry (the message says what is wrong)."""


@dataclass(frozen=True, slots=True)
class CardImage:
    media_type: str
    data: bytes

    def as_json(self) -> dict[str, str]:
        return {"media_type": self.media_type, "base64": base64.b64encode(self.data).decode("ascii")}


@dataclass(frozen=True, slots=True)
class BridgeCard:
    """One card on the reader. ``repr`` names only the card's label: it is personal data."""

    label: str
    kind: str
    name: str
    sex: Literal["M", "F"]
    ethnicity: str | None
    birth_date: date
    address: str | None
    id_number: str
    issuing_authority: str | None
    valid_from: date | None
    valid_until: date | Literal["long_term"]
    portrait: CardImage
    front: CardImage | None = None

    def __repr__(self) -> str:
        return f"BridgeCard(label={self.label!r})"

    def as_json(self) -> dict[str, object]:
        """The ``card`` object of a ``POST /v1/card/read`` answer."""
        return {
            "kind": self.kind,
            "name": self.name,
            "sex": self.sex,
            "ethnicity": self.ethnicity,
            "birth_date": self.birth_date.isoformat(),
            "address": self.address,
            "id_number": self.id_number,
            "issuing_authority": self.issuing_authority,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_until": self.valid_until if isinstance(self.valid_until, str) else self.valid_until.isoformat(),
            "portrait": self.portrait.as_json(),
        }


def _image(path: Path) -> CardImage:
    media_type = IMAGE_TYPES.get(path.suffix.lower())
    if media_type is None:
        raise CardFileInvalid(f"{path.name}: images must be JPEG, PNG or WebP")
    data = path.read_bytes()
    if not data or len(data) > MAX_IMAGE_BYTES:
        raise CardFileInvalid(f"{path.name}: empty or larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    return CardImage(media_type, data)


def _one_image(folder: Path, stem: str, *, required: bool) -> CardImage | None:
    found = sorted(p for p in folder.iterdir() if p.stem == stem and p.suffix.lower() in IMAGE_TYPES)
    if not found:
        if required:
            raise CardFileInvalid(f"{folder.name}: no {stem}.jpg, {stem}.png or {stem}.webp")
        return None
    return _image(found[0])


def _text(fields: dict[str, object], name: str, folder: str, *, required: bool = False) -> str | None:
    value = fields.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise CardFileInvalid(f"{folder}: card.json needs {name!r} as text")
    return value.strip()


def _date(fields: dict[str, object], name: str, folder: str) -> date:
    text = _text(fields, name, folder, required=True)
    try:
        return date.fromisoformat(str(text))
    except ValueError as exc:
        raise CardFileInvalid(f"{folder}: {name!r} must be a date YYYY-MM-DD") from exc


def card_from_folder(folder: Path) -> BridgeCard:
    """One card: ``card.json`` (the fields), ``portrait.jpg|png|webp`` and optionally ``front.jpg|png|webp``."""
    try:
        fields = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CardFileInvalid(f"{folder.name}: card.json is missing or not JSON") from exc
    if not isinstance(fields, dict):
        raise CardFileInvalid(f"{folder.name}: card.json must hold an object")
    label = folder.name
    kind = _text(fields, "kind", label) or "cn_resident"
    if kind not in KINDS:
        raise CardFileInvalid(f"{label}: kind must be one of {', '.join(sorted(KINDS))}")
    sex = fields.get("sex")
    if sex not in ("M", "F"):
        raise CardFileInvalid(f"{label}: sex must be 'M' or 'F'")
    until_text = _text(fields, "valid_until", label, required=True)
    valid_until: date | Literal["long_term"] = (
        "long_term" if until_text == "long_term" else _date(fields, "valid_until", label)
    )
    portrait = _one_image(folder, "portrait", required=True)
    assert portrait is not None
    return BridgeCard(
        label=label,
        kind=kind,
        name=_text(fields, "name", label, required=True) or "",
        sex="M" if sex == "M" else "F",
        ethnicity=_text(fields, "ethnicity", label),
        birth_date=_date(fields, "birth_date", label),
        address=_text(fields, "address", label),
        id_number=_text(fields, "id_number", label, required=True) or "",
        issuing_authority=_text(fields, "issuing_authority", label),
        valid_from=_date(fields, "valid_from", label) if fields.get("valid_from") is not None else None,
        valid_until=valid_until,
        portrait=portrait,
        front=_one_image(folder, "front", required=False),
    )


def load_cards(directory: Path) -> list[BridgeCard]:
    """Every card folder under ``directory`` (sorted by name); a folder that is not a card is an error."""
    if not directory.is_dir():
        raise CardFileInvalid(f"{directory} is not a folder")
    cards = [card_from_folder(folder) for folder in sorted(directory.iterdir()) if folder.is_dir()]
    if not cards:
        raise CardFileInvalid(f"{directory} holds no card folder (each: card.json and portrait.jpg)")
    return cards


# Grace Hopper's face in matplotlib's sample photo (512×600): x0, y0, x1, y1 in pixels.
_GRACE_HOPPER_FACE_BOX: Final = (165.0, 150.0, 370.0, 345.0)


def builtin_cards() -> list[BridgeCard]:
    """Three test cards for development: valid (long-term), expired, and one whose chip sex contradicts its number.

    Their portrait is the public-domain photo of Grace Hopper that matplotlib ships as sample data (installed with
    the ``dev`` extra), cut as a chip portrait; the valid card also has a simulated document-camera card front.
    The ID numbers are synthetic (valid check characters, nobody's). For a face check that can pass, give the
    simulator a folder with your own photo instead (``--cards DIR``).
    """
    import numpy as np
    from PIL import Image

    from realname.adapters.vision.card_front_photo import simulate_card_front
    from realname.adapters.vision.chip_photo import chip_portrait

    try:
        import matplotlib.cbook
    except ImportError as exc:
        raise CardFileInvalid(
            "the built-in cards use matplotlib's sample photo: install the dev extra or give --cards DIR"
        ) from exc
    sample = Path(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    rgb = np.asarray(Image.open(sample).convert("RGB"))
    buffer = io.BytesIO()
    Image.fromarray(chip_portrait(rgb, _GRACE_HOPPER_FACE_BOX)).save(buffer, format="JPEG", quality=90)
    portrait = CardImage("image/jpeg", buffer.getvalue())
    front = CardImage("image/jpeg", simulate_card_front(rgb, _GRACE_HOPPER_FACE_BOX, np.random.default_rng(20261206)))
    return [
        BridgeCard(
            label="long-term",
            kind="cn_resident",
            name="张秀兰",
            sex="F",
            ethnicity="汉",
            birth_date=date(1949, 12, 31),
            address="北京市西城区西单北大街120号",
            id_number="11010519491231002X",
            issuing_authority="北京市公安局西城分局",
            valid_from=date(2010, 1, 15),
            valid_until="long_term",
            portrait=portrait,
            front=front,
        ),
        BridgeCard(
            label="expired",
            kind="cn_resident",
            name="王建国",
            sex="M",
            ethnicity="汉",
            birth_date=date(1990, 3, 7),
            address="北京市东城区东四十条12号",
            id_number="110102199003070018",
            issuing_authority="北京市公安局东城分局",
            valid_from=date(2010, 5, 1),
            valid_until=date(2020, 5, 1),
            portrait=portrait,
        ),
        BridgeCard(
            label="sex-mismatch",
            kind="cn_resident",
            name="李明",
            sex="F",
            ethnicity="回",
            birth_date=date(1985, 11, 12),
            address="广东省深圳市福田区福华路8号",
            id_number="44030419851112003X",
            issuing_authority="深圳市公安局福田分局",
            valid_from=date(2015, 6, 1),
            valid_until=date(2035, 6, 1),
            portrait=portrait,
        ),
    ]
