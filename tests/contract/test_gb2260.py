"""The shipped GB/T 2260 table loads into a ``RegionDirectory`` and holds what the checks rely on."""

from __future__ import annotations

import pytest

from realname.adapters.documents.regions import load_region_directory
from realname.domain.identity import RegionDirectory, RegionStatus

PROVINCIAL_PREFIXES = [
    "11",
    "12",
    "13",
    "14",
    "15",
    "21",
    "22",
    "23",
    "31",
    "32",
    "33",
    "34",
    "35",
    "36",
    "37",
    "41",
    "42",
    "43",
    "44",
    "45",
    "46",
    "50",
    "51",
    "52",
    "53",
    "54",
    "61",
    "62",
    "63",
    "64",
    "65",
    "71",
    "81",
    "82",
]


@pytest.fixture(scope="module")
def regions() -> RegionDirectory:
    return load_region_directory()


def test_all_34_provincial_level_codes_are_current(regions: RegionDirectory) -> None:
    assert len(PROVINCIAL_PREFIXES) == 34
    for prefix in PROVINCIAL_PREFIXES:
        region = regions.lookup(prefix + "0000")
        assert region is not None, prefix
        assert region.status is RegionStatus.CURRENT, prefix
    names = {prefix: regions.lookup(prefix + "0000") for prefix in ("71", "81", "82")}
    assert [region.name for region in names.values() if region] == ["台湾省", "香港特别行政区", "澳门特别行政区"]


def test_has_prefecture_and_county_levels(regions: RegionDirectory) -> None:
    for code, name in (("440300", "深圳市"), ("330100", "杭州市"), ("110105", "朝阳区"), ("440305", "南山区")):
        region = regions.lookup(code)
        assert region is not None and region.name == name and region.status is RegionStatus.CURRENT
    prefectures = [code for code in regions.by_code if code[2:4] != "00" and code.endswith("00")]
    counties = [code for code in regions.by_code if not code.endswith("00")]
    assert len(prefectures) > 330
    assert len(counties) > 2800


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("110224", "大兴县"),  # became 大兴区 110115 in 2001
        ("110103", "崇文区"),  # merged into 东城区 in 2010
        ("110104", "宣武区"),  # merged into 西城区 in 2010
        ("320411", "新北区"),  # still current, kept as a control
        ("510122", "双流县"),  # became 双流区 in 2016
        ("120107", "塘沽区"),  # merged into 滨海新区 in 2009
    ],
)
def test_codes_retired_since_1999_are_kept(regions: RegionDirectory, code: str, name: str) -> None:
    region = regions.lookup(code)
    assert region is not None
    assert region.name == name
    expected = RegionStatus.CURRENT if code == "320411" else RegionStatus.RETIRED
    assert region.status is expected


def test_residence_permit_region_830000_is_not_a_gb2260_code(regions: RegionDirectory) -> None:
    assert "830000" not in regions
    assert "990000" not in regions
