"""Staff sign-in lock-out, and sign-in answers that do not reveal whether a staff id exists."""

from __future__ import annotations

import sqlalchemy as sa

from realname.adapters.system import Uuid4Ids
from realname.app.actors import OPERATOR_CLI
from realname.app.staff_auth import StaffAuth
from realname.domain.errors import Unauthenticated
from realname.domain.organisation import Role
from tests.e2e.conftest import Service
from tests.fakes import FixedClock


def sign_in(service: Service, staff_code: str, password: str) -> tuple[int, dict[str, str], dict[str, object]]:
    response = service.client.post("/v1/auth/token", json={"staff_code": staff_code, "password": password})
    return response.status_code, dict(response.headers), response.json()


def test_five_wrong_credentials_lock_the_staff_id_until_the_lockout_has_passed(service_on: Service) -> None:
    clock = service_on.container.clock
    assert isinstance(clock, FixedClock)
    policy = service_on.container.policy()
    member = service_on.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    for _ in range(policy.max_failed_attempts):
        status, _, body = sign_in(service_on, member.staff_code, "guess")
        assert (status, body["code"]) == (401, "auth.invalid_credentials")
        clock.advance(seconds=10)
    status, headers, body = sign_in(service_on, member.staff_code, member.password)  # even the right one
    assert (status, body["code"]) == (429, "auth.locked")
    assert 0 < int(headers["retry-after"]) <= policy.lockout_minutes * 60
    # An unknown id is locked the same way (the lock says nothing about existence).
    for _ in range(policy.max_failed_attempts):
        assert sign_in(service_on, "no-such-staff", "guess")[0] == 401
    assert sign_in(service_on, "no-such-staff", "guess")[2]["code"] == "auth.locked"
    with service_on.container.engine.connect() as c:  # counted under a keyed hash of what was typed
        subjects = [r[0] for r in c.execute(sa.text("SELECT subject FROM throttle_event"))]
    assert subjects and not any("no-such-staff" in x or member.staff_code in x for x in subjects)
    # Others are served; after the lock-out the member is again.
    other = service_on.container.registry().add_staff(
        OPERATOR_CLI, "Han Mei", Role.CLERK, "BJ-001", password_change_required=False
    )
    assert sign_in(service_on, other.staff_code, other.password)[0] == 200
    clock.advance(seconds=int(headers["retry-after"]))
    assert sign_in(service_on, member.staff_code, member.password)[0] == 200


class RecordingHasher:
    """The real argon2 hasher, recording which hashes each sign-in verified against."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.verified: list[str] = []

    def hash(self, secret: str) -> str:
        return self.real.hash(secret)  # type: ignore[attr-defined, no-any-return]

    def verify(self, hashed: str, secret: str) -> bool:
        self.verified.append(hashed)
        return self.real.verify(hashed, secret)  # type: ignore[attr-defined, no-any-return]


def test_unknown_ids_cost_the_same_argon2_verification_as_a_wrong_credential(service: Service) -> None:
    container = service.container
    hasher = RecordingHasher(container.secret_hasher)
    auth = StaffAuth(
        container.unit_of_work,
        hasher,
        container.token_issuer,
        container.clock,
        Uuid4Ids(),
        container.policy(),
        container.blind_indexer,
    )
    member = container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )

    for staff_id in (member.staff_code, "NOSUCH1", "another-unknown"):
        try:
            auth.sign_in(staff_id, "wrong credential")
        except Unauthenticated as refused:
            assert refused.code == "auth.invalid_credentials"
        else:
            raise AssertionError("a wrong credential signed in")
    known, unknown, unknown_again = hasher.verified
    # Each path ran one argon2id verification; unknown ids against a real (dummy) argon2id hash.
    assert known.startswith("$argon2id$") and unknown.startswith("$argon2id$") and unknown == unknown_again
    assert known != unknown


def test_sign_in_names_the_outlets_time_zone_for_the_pages(service: Service) -> None:
    registry = service.container.registry()
    registry.add_outlet(OPERATOR_CLI, "UR-001", "Urumqi", "Asia/Urumqi")
    far = registry.add_staff(OPERATOR_CLI, "Aygul", Role.CLERK, "UR-001", password_change_required=False)
    near = registry.add_staff(OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False)
    assert sign_in(service, far.staff_code, far.password)[2]["time_zone"] == "Asia/Urumqi"
    assert sign_in(service, near.staff_code, near.password)[2]["time_zone"] == "Asia/Shanghai"
