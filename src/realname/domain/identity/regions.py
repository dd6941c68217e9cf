"""The administrative division code table (GB/T 2260) as a value the checks are given.

The domain does no I/O: an adapter reads the shipped table and builds a ``RegionDirectory``.
Retired codes stay in the directory because cards issued under them remain valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class RegionStatus(StrEnum):
    CURRENT = "current"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    status: RegionStatus

    def __post_init__(self) -> None:
        if len(self.code) != 6 or not self.code.isdigit():
            raise ValueError("a GB/T 2260 region code has exactly 6 digits")


@dataclass(frozen=True, slots=True)
class RegionDirectory:
    """Region codes by their 6 digits. Build it with :meth:`of`."""

    by_code: Mapping[str, Region] = field(repr=False)

    @classmethod
    def of(cls, regions: Iterable[Region]) -> RegionDirectory:
        table: dict[str, Region] = {}
        for region in regions:
            if region.code in table:
                raise ValueError(f"duplicate region code {region.code}")
            table[region.code] = region
        return cls(MappingProxyType(table))

    def lookup(self, code: str) -> Region | None:
        return self.by_code.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self.by_code

    def __len__(self) -> int:
        return len(self.by_code)

    def __repr__(self) -> str:
        return f"RegionDirectory({len(self.by_code)} codes)"
