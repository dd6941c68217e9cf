"""Settings refuse a witness folder that whoever changes the data folder could change too."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from realname.config import Settings


def test_the_witness_defaults_beside_the_data_folder_not_inside_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.resolved_audit_witness_dir == tmp_path / "data-audit-witness"


@pytest.mark.parametrize("inside", [".", "witness", "nested/witness"])
def test_a_witness_folder_inside_the_data_folder_is_refused(tmp_path: Path, inside: str) -> None:
    with pytest.raises(ValidationError, match="outside the data folder"):
        Settings(data_dir=tmp_path / "data", audit_witness_dir=tmp_path / "data" / inside)


def test_a_witness_url_must_be_http(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="http"):
        Settings(data_dir=tmp_path / "data", audit_witness_url="file:///etc/passwd")
    assert Settings(data_dir=tmp_path / "data", audit_witness_url="https://witness.example/cp").audit_witness_url
