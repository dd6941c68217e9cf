"""Request and response bodies of the relying parties' checks and of the subscriber's check pages."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

KindName = Literal["three_element", "two_element", "held_since", "status"]
IdKindName = Literal[
    "auto", "cn_resident", "cn_residence_permit", "cn_foreign_permanent", "hk_macau_permit", "taiwan_permit", "mrz"
]


class ConsentBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reference: str = Field(
        min_length=4,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:/-]+$",
        description="The party's reference of the subscriber's consent to this check (stored encrypted, shown to "
        "the subscriber)",
    )
    given_at: AwareDatetime = Field(description="When the subscriber gave it (not in the future, at most 366 days ago)")


class CheckRequest(BaseModel):
    """One check. Fields needed per kind: ``three_element`` number, name, id_number; ``two_element`` number,
    id_number; ``held_since`` number, since; ``status`` number. Every kind carries the consent."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: KindName
    number: str = Field(min_length=7, max_length=20, description="The phone number (national format, or +86…)")
    consent: ConsentBody
    id_number: str | None = Field(None, min_length=1, max_length=64)
    id_kind: IdKindName = "auto"
    name: str | None = Field(None, min_length=1, max_length=100)
    since: date | None = Field(None, description="held_since: the day the party's account was opened (UTC)")

    @model_validator(mode="after")
    def _fields_of_the_kind(self) -> CheckRequest:
        needs = {
            "three_element": ("id_number", "name"),
            "two_element": ("id_number",),
            "held_since": ("since",),
            "status": (),
        }[self.kind]
        missing = [f for f in needs if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind} check needs {', '.join(missing)}")
        return self


CHECK_EXAMPLES = {
    "three_element": {
        "summary": "number + name + ID number",
        "value": {
            "kind": "three_element",
            "number": "13800138000",
            "name": "张三",
            "id_number": "11010519491231002X",
            "consent": {"reference": "app-consent/2026/000123", "given_at": "2026-12-06T09:30:00+08:00"},
        },
    },
    "two_element": {
        "summary": "number + ID number",
        "value": {
            "kind": "two_element",
            "number": "13800138000",
            "id_number": "11010519491231002X",
            "consent": {"reference": "app-consent/2026/000124", "given_at": "2026-12-06T09:30:00+08:00"},
        },
    },
    "held_since": {
        "summary": "has the number changed hands since the account was opened?",
        "value": {
            "kind": "held_since",
            "number": "13800138000",
            "since": "2021-03-15",
            "consent": {"reference": "app-consent/2026/000125", "given_at": "2026-12-06T09:30:00+08:00"},
        },
    },
    "status": {
        "summary": "active / suspended / not in service",
        "value": {
            "kind": "status",
            "number": "13800138000",
            "consent": {"reference": "app-consent/2026/000126", "given_at": "2026-12-06T09:30:00+08:00"},
        },
    },
}


class ElementsView(BaseModel):
    number_in_service: bool
    id_number: bool | None
    name: bool | None


class CheckAnswerView(BaseModel):
    check_id: str
    kind: KindName
    result: Literal["match", "no_match", "active", "suspended", "not_in_service", "blocked"] = Field(
        description="match/no_match for identity and held-since checks; the status for status checks; blocked when "
        "the subscriber blocked checks on this number or by this party"
    )
    checked_at: datetime
    elements: ElementsView | None = Field(
        None, description="Which element matched: only for parties registered with --sees-elements"
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "check_id": "9f1c2e7a0b3d4c5e8f9a1b2c3d4e5f60",
                    "kind": "three_element",
                    "result": "match",
                    "checked_at": "2026-12-06T01:31:02Z",
                    "elements": None,
                }
            ]
        }
    )


class CheckSeenView(BaseModel):
    id: str
    party: str
    party_name: str
    purpose: str
    kind: str
    at: datetime
    result: str
    number: str = Field(description="Masked")
    consent_reference: str
    consent_given_at: datetime
    reported: bool


class BlockView(BaseModel):
    id: str
    number: str | None = Field(description="Masked; set when one number is blocked")
    party: str | None = Field(description="Set when one party is blocked")
    party_name: str | None
    since: datetime


class MyChecksView(BaseModel):
    checks: list[CheckSeenView]
    blocks: list[BlockView]


class BlockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    number_ref: str | None = Field(None, max_length=64, description="A number's ``ref`` from /v1/self/records")
    party: str | None = Field(None, max_length=48, description="A party id from your checks")
