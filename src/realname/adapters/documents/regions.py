"""Reads the shipped GB/T 2260 table (``gb2260.csv``, built by ``scripts/build_gb2260.py``).

Load it once at the composition root or CLI boundary and pass the ``RegionDirectory`` to the checks.
"""

from __future__ import annotations

import csv
import io
from importlib import resources

from realname.domain.errors import DependencyUnavailable
from realname.domain.identity.regions import Region, RegionDirectory, RegionStatus

TABLE_FILE = "gb2260.csv"


def load_region_directory() -> RegionDirectory:
    """The region directory from the package data.

    Raises:
        DependencyUnavailable: the table is missing or malformed (a broken install: fail closed).
    """
    try:
        text = resources.files("realname.adapters.documents").joinpath(TABLE_FILE).read_text(encoding="utf-8")
        rows = csv.DictReader(io.StringIO(text))
        return RegionDirectory.of(
            Region(code=row["code"], name=row["name"], status=RegionStatus(row["status"])) for row in rows
        )
    except (OSError, KeyError, ValueError) as exc:
        raise DependencyUnavailable(
            "the region code table is missing or damaged", code="documents.region_table_unavailable"
        ) from exc
