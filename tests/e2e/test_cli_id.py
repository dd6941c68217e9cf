"""``realname id check`` and ``realname id check-batch`` through click, with the shipped region table."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from realname.adapters.cli.id_commands import id_group
from realname.domain.identity import RegionDirectory
from realname.domain.identity.regions import Region, RegionStatus
from realname.domain.identity.resident_id import mod11_2_check_char
from realname.domain.policy import Policy

VALID_ID = "11010519491231002X"  # Beijing Chaoyang, born 1949-12-31, female
TD3 = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10")


def number(region: str = "110105", birth: str = "19800101", sequence: str = "123") -> str:
    body = region + birth + sequence
    return body + mod11_2_check_char(body)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run_json(runner: CliRunner, *args: str) -> dict[str, object]:
    """The JSON answer; the exit status says the same as ``valid``: 0 valid, 1 checked and invalid."""
    result = runner.invoke(id_group, ["check", "--json", *args])
    parsed: dict[str, object] = json.loads(result.stdout)
    assert result.exit_code == (0 if parsed["valid"] else 1), result.output
    return parsed


def test_check_json_for_a_valid_resident_id(runner: CliRunner) -> None:
    out = run_json(runner, "--today", "2026-01-01", "--expiry", "long_term", VALID_ID.lower())
    assert out["valid"] is True
    assert out["kind"] == "cn_resident"
    assert out["reasons"] == []
    fields = out["fields"]
    assert isinstance(fields, dict)
    assert fields["region_name"] == "朝阳区"
    assert fields["birth_date"] == "1949-12-31"
    assert fields["sex"] == "female"
    assert fields["expiry"] == "long_term"


def test_invalid_document_exits_1_with_all_reasons(runner: CliRunner) -> None:
    bad = "119999" + "19810229" + "123"
    bad += "0" if mod11_2_check_char(bad) != "0" else "1"
    out = run_json(runner, "--today", "2026-01-01", bad)
    assert out["valid"] is False
    reasons = out["reasons"]
    assert isinstance(reasons, list)
    assert set(reasons) == {"id.check_digit", "id.region_unknown", "id.birth_date_invalid"}


def test_region_retired_since_1999_is_accepted(runner: CliRunner) -> None:
    out = run_json(runner, "--today", "2026-01-01", number("110224", "19700101"))  # 大兴县, now 大兴区
    assert out["valid"] is True


def test_mrz_lines_are_separate_values(runner: CliRunner) -> None:
    out = run_json(runner, "--today", "2026-01-01", *TD3)
    assert out["kind"] == "mrz"
    assert out["reasons"] == ["mrz.country_unknown", "id.expired"]


def test_kind_option_overrides_detection(runner: CliRunner) -> None:
    out = run_json(runner, "--kind", "cn_residence_permit", "--today", "2026-01-01", VALID_ID)
    assert out["kind"] == "cn_residence_permit"
    assert out["reasons"] == ["id.region_not_allowed"]


def test_underage_and_expired(runner: CliRunner) -> None:
    out = run_json(runner, "--today", "2026-01-01", "--expiry", "2025-12-31", number(birth="20150101"))
    assert out["reasons"] == ["id.underage", "id.expired"]


def test_human_summary_names_reasons_and_masks_the_number(runner: CliRunner) -> None:
    result = runner.invoke(id_group, ["check", "--today", "2026-01-01", "--expiry", "2020-01-01", VALID_ID])
    assert result.exit_code == 1 and result.stderr == ""  # checked, negative: not an error
    assert "cn_resident: INVALID" in result.stdout
    assert "id.expired" in result.stdout
    assert "1101**********002X" in result.stdout
    assert VALID_ID not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["check", "--today", "2026-13-01", VALID_ID],
        ["check", "--expiry", "soon", VALID_ID],
        ["check"],
    ],
)
def test_unusable_input_exits_2_with_one_line_on_stderr(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(id_group, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: [input.invalid]")


def test_check_batch_answers_every_line_in_order(runner: CliRunner) -> None:
    requests = [
        json.dumps({"value": VALID_ID, "today": "2026-01-01"}),
        "this is not json",
        json.dumps({"kind": "mrz", "value": "\n".join(TD3), "today": "2010-01-01"}),
        json.dumps({"value": number(), "expiry": "2020-01-01", "today": "2026-01-01"}),
        json.dumps({"value": 12345}),
        json.dumps({"value": VALID_ID, "today": "yesterday"}),
        json.dumps({"value": "H12345678", "kind": "passport"}),
        json.dumps({"value": VALID_ID, "sex": "M", "birth_date": "1949-12-31", "today": "2026-01-01"}),
        json.dumps(["value"]),
        json.dumps({"value": "01234567", "expiry": "long_term"}),
    ]
    result = runner.invoke(id_group, ["check-batch"], input="\n".join(requests) + "\n")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(requests)
    assert [line["valid"] for line in lines] == [True, False, False, False, False, False, False, False, False, True]
    assert lines[0]["kind"] == "cn_resident"
    assert lines[1]["reasons"] == ["input.invalid"]
    assert lines[1]["line"] == 2
    assert lines[2]["reasons"] == ["mrz.country_unknown"]
    assert lines[3]["reasons"] == ["id.expired"]
    for bad in (4, 5, 6, 8):
        assert lines[bad]["reasons"] == ["input.invalid"]
        assert lines[bad]["kind"] == "unknown"
    assert lines[7]["reasons"] == ["id.mismatch.sex"]
    assert lines[9]["fields"]["expiry"] == "long_term"
    assert VALID_ID not in result.stdout


def test_check_batch_with_empty_input_prints_nothing(runner: CliRunner) -> None:
    result = runner.invoke(id_group, ["check-batch"], input="")
    assert result.exit_code == 0
    assert result.stdout == ""


class FakeDocumentWiring:
    """Stands in for the composition root: a stricter policy and a two-code region table."""

    def policy(self) -> Policy:
        return Policy(min_age=18)

    def region_directory(self) -> RegionDirectory:
        return RegionDirectory.of(
            [Region("110000", "北京市", RegionStatus.CURRENT), Region("110105", "朝阳区", RegionStatus.CURRENT)]
        )


def test_policy_and_region_table_come_from_the_composition_root(runner: CliRunner) -> None:
    wiring = FakeDocumentWiring()
    seventeen = runner.invoke(
        id_group, ["check", "--json", "--today", "2026-01-01", number(birth="20080102")], obj=wiring
    )
    assert json.loads(seventeen.stdout)["reasons"] == ["id.underage"]
    elsewhere = runner.invoke(id_group, ["check", "--json", "--today", "2026-01-01", number("440305")], obj=wiring)
    assert json.loads(elsewhere.stdout)["reasons"] == ["id.region_unknown"]
