"""Relying parties' number–identity checks on real databases (SQLite and PostgreSQL): each check kind's
answers, signatures (forged, expired, replayed), blocks, quota and rate, enumeration detection, and the
subscriber's view with reports of unwanted checks."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TypedDict, Unpack

import pytest
import sqlalchemy as sa

from realname.adapters.documents.regions import load_region_directory
from realname.adapters.storage.migrate import downgrade, upgrade
from realname.adapters.storage.party_repositories import SqlChecksUnitOfWork
from realname.adapters.storage.party_tables import party_metadata
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.app.actors import OPERATOR_CLI, Actor
from realname.app.registry import Registry, RegistryDeps
from realname.app.relying_party_checks import (
    CheckInquiry,
    ChecksDeps,
    NewPartyCredential,
    NumberChecks,
    PartyAdmin,
    SubscriberChecks,
)
from realname.domain.attempts import Attempt, AttemptState, Outcome, Purpose
from realname.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from realname.domain.numbers import Msisdn
from realname.domain.organisation import SELF_SERVICE_OUTLET, Role
from realname.domain.policy import Policy
from realname.domain.relying_parties import (
    CheckKind,
    CheckPolicy,
    CheckResult,
    Consent,
    PartyStatus,
    RateLimited,
    SignedRequest,
    cert_fingerprint,
    name_index_key,
    normalise_name,
    sign_request,
)
from realname.domain.subscribers import BlindIndex
from tests.fakes import FakeBlindIndexer, FixedClock, FixedRandom, PlainFakeHasher, ReversibleFakeCipher, SequentialIds

ALICE_ID, ALICE_NAME = "11010519491231002X", "张 三"
BOB_ID = "110105198507040036"
CLERK = Actor("staff:clerk-1", Role.CLERK, "BJ-001")
ALL_KINDS = frozenset(CheckKind)
PATH = "/v1/checks"


def n(i: int) -> Msisdn:
    return Msisdn(f"1380013{i:04d}")


class CheckOptions(TypedDict, total=False):
    """What a test may set on a check it signs (``World.request``)."""

    credential: NewPartyCredential
    id_number: str | None
    name: str | None
    since: date
    nonce: str
    timestamp: int
    secret: str
    cert: str
    body: bytes


@dataclass
class World:
    engine: sa.Engine
    clock: FixedClock
    registry: Registry
    admin: PartyAdmin
    checks: NumberChecks
    subscriber: SubscriberChecks
    bank: NewPartyCredential

    def ask(self, kind: CheckKind, number: int, **options: Unpack[CheckOptions]) -> tuple[CheckResult, object]:
        """Sign and send one check; return the result and the answer."""
        answer = self.checks.check(*self.request(kind, number, **options))
        return answer.result, answer

    def request(
        self, kind: CheckKind, number: int, **options: Unpack[CheckOptions]
    ) -> tuple[SignedRequest, Callable[[bytes], CheckInquiry]]:
        """One signed check (Alice's elements and the bank's credential unless given, the body ``{"kind": …}``
        unless given) and the inquiry its body parses to."""
        inquiry = CheckInquiry(
            kind,
            n(number),
            Consent("consent/2026/0001", self.clock.now() - timedelta(days=1)),
            id_number=options.get("id_number", ALICE_ID),
            name=options.get("name", ALICE_NAME),
            since=options.get("since"),
        )
        body = options.get("body") or b'{"kind": "%s"}' % kind.value.encode()
        credential = options.get("credential") or self.bank
        signed = self.signed(credential, body, options.get("nonce"), options.get("timestamp"), options.get("secret"))
        return replace(signed, client_cert_sha256=options.get("cert")), lambda _body: inquiry

    def signed(
        self,
        credential: NewPartyCredential,
        body: bytes,
        nonce: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> SignedRequest:
        ts = str(timestamp if timestamp is not None else int(self.clock.now().timestamp()))
        nonce = nonce or secrets.token_urlsafe(18)
        signature = sign_request((secret or credential.secret).encode(), "POST", PATH, ts, nonce, body)
        return SignedRequest(credential.party_id, ts, nonce, signature, "POST", PATH, body)

    def add_party(self, party_id: str, **overrides: object) -> NewPartyCredential:
        fields: dict[str, object] = {
            "name": f"{party_id} Ltd",
            "purpose": "account opening",
            "kinds": ALL_KINDS,
            "daily_quota": 1000,
            "per_minute_limit": 1000,
            "contact": "risk@example.com",
            **overrides,
        }
        return self.admin.add(OPERATOR_CLI, party_id=party_id, **fields)  # type: ignore[arg-type]

    def register(self, number: int, id_number: str, name: str | None = None, attempt: str = "a1") -> str:
        index = BlindIndex(FakeBlindIndexer().index(id_number))
        self.registry.assign_number(
            CLERK,
            msisdn=n(number),
            attempt_id=attempt,
            id_index=index,
            iccid=f"8986001234{number:010d}",
            outlet_code="BJ-001",
        )
        with SqlUnitOfWork(self.engine) as uow:
            found = uow.subscribers.find(index)
            assert found is not None
            if name is not None:
                key = name_index_key(found.id, normalise_name(name))
                uow.subscribers.set_name(found.id, b"sealed", FakeBlindIndexer().index(key))
            uow.commit()
        return found.id

    def verified_subscriber(self, id_number: str, attempt_id: str = "self-1") -> Actor:
        """An approved self-service attempt of the person with ``id_number``; the actor its token stands for."""
        now = self.clock.now()
        attempt = Attempt.start(
            attempt_id, Purpose.SELF_SERVICE, SELF_SERVICE_OUTLET, f"self:{attempt_id}", "phone-1", now, 30
        )
        attempt = replace(
            attempt,
            state=AttemptState.VERIFIED,
            outcome=Outcome.APPROVED,
            decided_at=now,
            id_index=BlindIndex(FakeBlindIndexer().index(id_number)),
        )
        with SqlUnitOfWork(self.engine) as uow:
            uow.attempts.add(attempt)
            uow.commit()
        return Actor(f"self:{attempt_id}", Role.SUBSCRIBER, SELF_SERVICE_OUTLET)


def make_world(engine: sa.Engine, policy: CheckPolicy | None = None) -> World:
    clock = FixedClock()
    registry = Registry(
        RegistryDeps(
            uow=lambda: SqlUnitOfWork(engine),
            clock=clock,
            ids=SequentialIds("r"),
            random=FixedRandom(),
            policy=Policy(),
            cipher=ReversibleFakeCipher(),
            blind_index=FakeBlindIndexer(),
            hasher=PlainFakeHasher(),
        )
    )
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    registry.import_numbers(OPERATOR_CLI, [n(i) for i in range(40)], source="test")
    counter = iter(range(1, 10_000))
    deps = ChecksDeps(
        uow=lambda: SqlChecksUnitOfWork(engine),
        clock=clock,
        ids=SequentialIds("c"),
        cipher=ReversibleFakeCipher(),
        blind_index=FakeBlindIndexer(),
        regions=load_region_directory(),
        policy=policy or CheckPolicy(),
        new_secret=lambda: f"secret-{next(counter):04d}-" + "x" * 30,
    )
    admin = PartyAdmin(deps)
    world = World(engine, clock, registry, admin, NumberChecks(deps), SubscriberChecks(deps), None)  # type: ignore[arg-type]
    world.bank = world.add_party("icbc-app", sees_elements=False)
    return world


@pytest.fixture
def world(engine: sa.Engine) -> World:
    return make_world(engine)


def rows(engine: sa.Engine, query: str) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(sa.text(query))]


# -- answers of each kind -------------------------------------------------------------------------


def test_three_element_matches_only_number_name_and_id_together(world: World) -> None:
    world.register(1, ALICE_ID, ALICE_NAME)
    world.register(2, BOB_ID, "李四", attempt="a2")
    assert world.ask(CheckKind.THREE_ELEMENT, 1)[0] is CheckResult.MATCH
    # NFKC and whitespace: full-width spaces and a different spacing are the same name.
    assert world.ask(CheckKind.THREE_ELEMENT, 1, name="张\u3000 三")[0] is CheckResult.MATCH
    assert world.ask(CheckKind.THREE_ELEMENT, 1, name="张四")[0] is CheckResult.NO_MATCH
    assert world.ask(CheckKind.THREE_ELEMENT, 1, id_number=BOB_ID)[0] is CheckResult.NO_MATCH
    assert world.ask(CheckKind.THREE_ELEMENT, 2)[0] is CheckResult.NO_MATCH  # Bob's number, Alice's identity
    assert world.ask(CheckKind.THREE_ELEMENT, 3)[0] is CheckResult.NO_MATCH  # an unassigned number
    # Lower-case x is the same ID number (normalised by the document code).
    assert world.ask(CheckKind.THREE_ELEMENT, 1, id_number=ALICE_ID.lower())[0] is CheckResult.MATCH


def test_three_element_without_a_recorded_name_never_matches(world: World) -> None:
    world.register(4, ALICE_ID)
    assert world.ask(CheckKind.THREE_ELEMENT, 4)[0] is CheckResult.NO_MATCH
    assert world.ask(CheckKind.TWO_ELEMENT, 4)[0] is CheckResult.MATCH


def test_two_element_and_suspended_numbers(world: World) -> None:
    world.register(5, ALICE_ID)
    assert world.ask(CheckKind.TWO_ELEMENT, 5, name=None)[0] is CheckResult.MATCH
    assert world.ask(CheckKind.TWO_ELEMENT, 5, id_number=BOB_ID)[0] is CheckResult.NO_MATCH
    world.registry.suspend_number(OPERATOR_CLI, n(5), "reported")
    assert world.ask(CheckKind.TWO_ELEMENT, 5)[0] is CheckResult.NO_MATCH


def test_elements_are_shown_only_to_parties_allowed_to_see_them(world: World) -> None:
    world.register(6, ALICE_ID, ALICE_NAME)
    _, plain = world.ask(CheckKind.THREE_ELEMENT, 6, name="王五")
    assert plain.elements is None  # type: ignore[attr-defined]
    detailed = world.add_party("fraud-desk", sees_elements=True)
    result, answer = world.ask(CheckKind.THREE_ELEMENT, 6, name="王五", credential=detailed)
    assert result is CheckResult.NO_MATCH
    elements = answer.elements  # type: ignore[attr-defined]
    assert (elements.number_in_service, elements.id_number, elements.name) == (True, True, False)


def test_malformed_id_number_is_an_input_error_not_an_answer(world: World) -> None:
    world.register(7, ALICE_ID)
    with pytest.raises(InvalidInput) as refused:
        world.ask(CheckKind.TWO_ELEMENT, 7, id_number="110105194912310021")  # wrong check digit
    assert refused.value.code == "check.id_number_invalid"
    assert "110105194912310021" not in refused.value.message


def test_held_since_follows_sim_replacement_but_not_a_new_owner(world: World) -> None:
    world.register(8, ALICE_ID)
    opened = world.clock.now().date()
    world.clock.advance(days=10)
    assert world.ask(CheckKind.HELD_SINCE, 8, since=opened)[0] is CheckResult.MATCH
    assert world.ask(CheckKind.HELD_SINCE, 8, since=opened - timedelta(days=1))[0] is CheckResult.NO_MATCH
    with pytest.raises(InvalidInput) as future:
        world.ask(CheckKind.HELD_SINCE, 8, since=world.clock.now().date() + timedelta(days=1))
    assert future.value.code == "check.since_invalid"
    # A SIM replacement ends one binding and starts another for the same holder: not a change of hands.
    with SqlUnitOfWork(world.engine) as uow:
        binding = uow.bindings.active_for(n(8))
        assert binding is not None
        uow.bindings.end(binding.id, world.clock.now(), "sim_replaced")
        uow.bindings.add(replace(binding, id="b-new", iccid="89860012340000009999", started_at=world.clock.now()))
        uow.commit()
    assert world.ask(CheckKind.HELD_SINCE, 8, since=opened)[0] is CheckResult.MATCH
    # Surrendered and registered by someone else: changed hands.
    world.registry.end_service(
        OPERATOR_CLI, n(8), BlindIndex(FakeBlindIndexer().index(ALICE_ID)), cancel=True, reason="test"
    )
    assert world.ask(CheckKind.HELD_SINCE, 8, since=opened)[0] is CheckResult.NO_MATCH


def test_status_without_identity(world: World) -> None:
    world.register(9, ALICE_ID)
    world.register(10, BOB_ID, attempt="a2")
    world.registry.suspend_number(OPERATOR_CLI, n(10), "fraud")
    assert world.ask(CheckKind.STATUS, 9, id_number=None, name=None)[0] is CheckResult.ACTIVE
    assert world.ask(CheckKind.STATUS, 10, id_number=None, name=None)[0] is CheckResult.SUSPENDED
    assert world.ask(CheckKind.STATUS, 11, id_number=None, name=None)[0] is CheckResult.NOT_IN_SERVICE
    assert world.ask(CheckKind.STATUS, 9999, id_number=None, name=None)[0] is CheckResult.NOT_IN_SERVICE


def test_a_party_asks_only_its_allowed_kinds(world: World) -> None:
    world.register(12, ALICE_ID)
    status_only = world.add_party("telco-mvno", kinds=frozenset({CheckKind.STATUS}))
    assert world.ask(CheckKind.STATUS, 12, credential=status_only)[0] is CheckResult.ACTIVE
    with pytest.raises(Forbidden) as refused:
        world.ask(CheckKind.TWO_ELEMENT, 12, credential=status_only)
    assert refused.value.code == "check.kind_not_allowed"
    # An authenticated refusal is on the audit record, with the masked number and the code only.
    events = rows(world.engine, "SELECT actor, subject, details FROM audit_event WHERE action = 'check.refused'")
    assert len(events) == 1
    actor, subject, details = events[0]
    assert actor == "party:telco-mvno" and subject == "number:138****0012"
    assert json.loads(str(details)) == {
        "code": "check.kind_not_allowed",
        "kind": "two_element",
        "number": "138****0012",
    }
    assert "13800130012" not in str(events) and ALICE_ID not in str(events)


# -- signatures -----------------------------------------------------------------------------------


def test_forged_expired_and_replayed_signatures_are_refused(world: World) -> None:
    world.register(13, ALICE_ID)
    codes = {}
    for label, kwargs in {
        "forged": {"secret": "not-the-secret-" + "y" * 30},
        "expired": {"timestamp": int(world.clock.now().timestamp()) - 301},
        "future": {"timestamp": int(world.clock.now().timestamp()) + 301},
    }.items():
        with pytest.raises(Unauthenticated) as refused:
            world.ask(CheckKind.STATUS, 13, **kwargs)  # type: ignore[arg-type]
        codes[label] = refused.value.code
    assert codes == {
        "forged": "party.signature_invalid",
        "expired": "party.signature_expired",
        "future": "party.signature_expired",
    }
    assert world.ask(CheckKind.STATUS, 13, nonce="nonce-0000000000000001")[0] is CheckResult.ACTIVE
    with pytest.raises(Unauthenticated) as replayed:
        world.ask(CheckKind.STATUS, 13, nonce="nonce-0000000000000001")
    assert replayed.value.code == "party.signature_replayed"
    # Inside the window, a timestamp 299 s off is fine.
    ok = world.ask(CheckKind.STATUS, 13, timestamp=int(world.clock.now().timestamp()) - 299)
    assert ok[0] is CheckResult.ACTIVE
    # Nonces are forgotten once a request carrying them would be refused by its timestamp anyway.
    assert world.admin.forget_nonces(OPERATOR_CLI) == 0
    world.clock.advance(seconds=601)
    assert world.admin.forget_nonces(OPERATOR_CLI) == 2
    stale = int(world.clock.now().timestamp()) - 601
    with pytest.raises(Unauthenticated) as too_old:
        world.ask(CheckKind.STATUS, 13, nonce="nonce-0000000000000001", timestamp=stale)
    assert too_old.value.code == "party.signature_expired"


def test_a_tampered_body_or_path_or_unknown_party_does_not_verify(world: World) -> None:
    signed = world.signed(world.bank, b'{"kind": "status"}')
    inquiry = CheckInquiry(CheckKind.STATUS, n(1), Consent("consent-1", world.clock.now()))
    for tampered in (
        replace(signed, body=b'{"kind": "two_element"}'),
        replace(signed, path="/v1/checks/other"),
        replace(signed, party_id="other-party"),
    ):
        with pytest.raises(Unauthenticated) as refused:
            world.checks.check(tampered, lambda _b: inquiry)
        assert refused.value.code == "party.signature_invalid"
    with pytest.raises(Unauthenticated) as missing:
        world.checks.check(replace(signed, signature=""), lambda _b: inquiry)
    assert missing.value.code == "party.signature_missing"
    # Unauthenticated requests leave nothing in the audit chain (anyone could fill it otherwise).
    assert rows(world.engine, "SELECT count(*) FROM audit_event WHERE action = 'check.refused'") == [(0,)]


def test_rotated_secret_replaces_the_old_one_and_disabled_parties_are_refused(world: World) -> None:
    world.register(14, ALICE_ID)
    old = world.bank
    new = world.admin.rotate_secret(OPERATOR_CLI, old.party_id)
    assert new.secret != old.secret and new.secret_version == 2
    with pytest.raises(Unauthenticated):
        world.ask(CheckKind.STATUS, 14, credential=old)
    assert world.ask(CheckKind.STATUS, 14, credential=new)[0] is CheckResult.ACTIVE
    world.admin.disable(OPERATOR_CLI, old.party_id)
    with pytest.raises(Forbidden) as refused:
        world.ask(CheckKind.STATUS, 14, credential=new)
    assert refused.value.code == "party.disabled"
    secrets_in_db = rows(world.engine, "SELECT secret_ciphertext, contact_ciphertext FROM relying_party")
    assert secrets_in_db and not [r for r in secrets_in_db if new.secret.encode() in r[0] or b"risk@" in r[1]]  # type: ignore[operator]


# -- blocks, quota, rate --------------------------------------------------------------------------


def test_blocked_number_and_blocked_party_answer_blocked(world: World) -> None:
    world.register(15, ALICE_ID, ALICE_NAME)
    world.register(16, ALICE_ID, ALICE_NAME, attempt="a3")
    me = world.verified_subscriber(ALICE_ID)
    alice = _sub(world, ALICE_ID)
    with SqlUnitOfWork(world.engine) as uow:
        refs = {str(b.msisdn): b.id for b in uow.bindings.active_of_subscriber(alice)}
    block = world.subscriber.block(me, number_ref=refs[str(n(15))])
    assert world.ask(CheckKind.THREE_ELEMENT, 15)[0] is CheckResult.BLOCKED
    assert world.ask(CheckKind.STATUS, 15)[0] is CheckResult.BLOCKED
    assert world.ask(CheckKind.THREE_ELEMENT, 16)[0] is CheckResult.MATCH  # the other number is not blocked
    other = world.add_party("ant-pay")
    world.subscriber.block(me, party_id="ant-pay")
    assert world.ask(CheckKind.THREE_ELEMENT, 16, credential=other)[0] is CheckResult.BLOCKED
    assert world.ask(CheckKind.THREE_ELEMENT, 16)[0] is CheckResult.MATCH
    world.subscriber.unblock(me, block.id)
    assert world.ask(CheckKind.THREE_ELEMENT, 15)[0] is CheckResult.MATCH
    with pytest.raises(NotFound):
        world.subscriber.block(me, number_ref="not-a-ref")
    with pytest.raises(InvalidInput):
        world.subscriber.block(me)


def _sub(world: World, id_number: str) -> str:
    with SqlUnitOfWork(world.engine) as uow:
        found = uow.subscribers.find(BlindIndex(FakeBlindIndexer().index(id_number)))
        assert found is not None
        return found.id


def test_daily_quota_is_exhausted_then_renews_the_next_day(world: World) -> None:
    world.register(17, ALICE_ID)
    small = world.add_party("small-bank", daily_quota=3)
    for _ in range(3):
        assert world.ask(CheckKind.STATUS, 17, credential=small)[0] is CheckResult.ACTIVE
    with pytest.raises(RateLimited) as refused:
        world.ask(CheckKind.STATUS, 17, credential=small)
    assert refused.value.code == "party.quota_exceeded"
    now = world.clock.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    assert refused.value.retry_after_seconds == math.ceil((midnight - now).total_seconds())
    # The refused request's nonce is spent all the same (its refusal committed).
    with pytest.raises(RateLimited):
        world.ask(CheckKind.STATUS, 17, credential=small, nonce="nonce-quota-000000001")
    with pytest.raises(Unauthenticated) as replayed:
        world.ask(CheckKind.STATUS, 17, credential=small, nonce="nonce-quota-000000001")
    assert replayed.value.code == "party.signature_replayed"
    world.clock.advance(days=1)
    assert world.ask(CheckKind.STATUS, 17, credential=small)[0] is CheckResult.ACTIVE
    assert rows(world.engine, "SELECT count(*) FROM party_check WHERE party_id = 'small-bank'") == [(4,)]


def test_rate_limit_per_minute(world: World) -> None:
    world.register(18, ALICE_ID)
    burst = world.add_party("burst-app", per_minute_limit=2)
    world.ask(CheckKind.STATUS, 18, credential=burst)
    world.ask(CheckKind.STATUS, 18, credential=burst)
    with pytest.raises(RateLimited) as refused:
        world.ask(CheckKind.STATUS, 18, credential=burst)
    assert refused.value.code == "party.rate_limited"
    assert 1 <= refused.value.retry_after_seconds <= 60
    assert refused.value.retry_after_seconds == 60 - world.clock.now().second
    world.clock.advance(minutes=1)
    assert world.ask(CheckKind.STATUS, 18, credential=burst)[0] is CheckResult.ACTIVE


# -- enumeration ----------------------------------------------------------------------------------


def test_many_numbers_against_one_id_suspends_the_party_and_opens_a_case(engine: sa.Engine) -> None:
    world = make_world(engine, CheckPolicy(max_numbers_per_id=3, max_ids_per_number=3))
    world.register(20, ALICE_ID)
    for number in (20, 21, 22):
        world.ask(CheckKind.TWO_ELEMENT, number)
    with pytest.raises(Forbidden) as refused:
        world.ask(CheckKind.TWO_ELEMENT, 23)
    assert refused.value.code == "party.suspended"
    with pytest.raises(Forbidden) as still:
        world.ask(CheckKind.STATUS, 20)
    assert still.value.code == "party.suspended"
    (party,) = [p for p in world.admin.list(OPERATOR_CLI) if p.party.id == world.bank.party_id]
    assert party.party.status is PartyStatus.SUSPENDED
    assert rows(engine, "SELECT kind, state FROM review_case") == [("party_enumeration", "open")]
    assert rows(engine, "SELECT party_id FROM party_case") == [(world.bank.party_id,)]
    with SqlChecksUnitOfWork(engine) as uow:
        (case,) = uow.reviews.pending()
        assert (case.kind.value, case.party_id, case.msisdn) == ("party_enumeration", world.bank.party_id, str(n(23)))
        assert uow.reviews.get(case.id, for_update=True) == case
    events = rows(engine, "SELECT action, details FROM audit_event WHERE action = 'party.suspended'")
    assert len(events) == 1 and ALICE_ID not in str(events)
    # Re-asking the same number with the same ID does not count twice; another party is unaffected.
    other = world.add_party("other-bank")
    for _ in range(5):
        world.ask(CheckKind.TWO_ELEMENT, 20, credential=other)
    world.admin.enable(OPERATOR_CLI, world.bank.party_id)
    assert world.ask(CheckKind.STATUS, 20)[0] is CheckResult.ACTIVE


def test_many_ids_against_one_number_is_enumeration_too(engine: sa.Engine) -> None:
    world = make_world(engine, CheckPolicy(max_numbers_per_id=3, max_ids_per_number=2))
    world.register(24, ALICE_ID)
    world.ask(CheckKind.TWO_ELEMENT, 24, id_number=ALICE_ID)
    world.ask(CheckKind.TWO_ELEMENT, 24, id_number=BOB_ID)
    with pytest.raises(Forbidden):
        world.ask(CheckKind.TWO_ELEMENT, 24, id_number="110105198001010016")
    # Outside the window the earlier checks no longer count.
    world.admin.enable(OPERATOR_CLI, world.bank.party_id)
    world.clock.advance(minutes=61)
    world.ask(CheckKind.TWO_ELEMENT, 24, id_number="110105198001010016")


# -- the subscriber's view ------------------------------------------------------------------------


def test_subscriber_sees_every_check_and_reports_one(world: World) -> None:
    world.register(25, ALICE_ID, ALICE_NAME)
    world.register(26, BOB_ID, attempt="a2")
    world.ask(CheckKind.THREE_ELEMENT, 25)
    world.clock.advance(minutes=1)
    world.ask(CheckKind.STATUS, 25)
    world.ask(CheckKind.TWO_ELEMENT, 26, id_number=BOB_ID)  # Bob's, not Alice's
    me = world.verified_subscriber(ALICE_ID)
    seen = world.subscriber.list(me)
    assert [(c.kind, c.result, c.party_name, c.number_masked) for c in seen.checks] == [
        ("status", "active", "icbc-app Ltd", "138****0025"),
        ("three_element", "match", "icbc-app Ltd", "138****0025"),
    ]
    assert seen.checks[0].purpose == "account opening" and seen.checks[0].consent_reference == "consent/2026/0001"
    case_id = world.subscriber.report(me, seen.checks[1].id)
    with pytest.raises(Conflict):
        world.subscriber.report(me, seen.checks[1].id)
    bobs = rows(world.engine, "SELECT id FROM party_check WHERE kind = 'two_element'")[0][0]
    with pytest.raises(NotFound):
        world.subscriber.report(me, str(bobs))
    assert rows(world.engine, f"SELECT kind FROM review_case WHERE id = '{case_id}'") == [("unwanted_check",)]
    assert world.subscriber.list(me).checks[1].reported is True
    # The consent reference is stored only encrypted; no name or ID number anywhere in the check rows.
    stored = str(rows(world.engine, "SELECT * FROM party_check"))
    assert "consent/2026/0001" not in stored and ALICE_ID not in stored and "张" not in stored


def test_checks_are_audited_with_masked_references_only(world: World) -> None:
    world.register(27, ALICE_ID, ALICE_NAME)
    world.ask(CheckKind.THREE_ELEMENT, 27)
    events = rows(world.engine, "SELECT actor, subject, details FROM audit_event WHERE action = 'number.checked'")
    assert len(events) == 1
    actor, subject, details = events[0]
    assert actor == "party:icbc-app" and str(subject).startswith("sub:")
    parsed = json.loads(str(details))
    assert parsed["number"] == "138****0027" and parsed["result"] == "match" and parsed["kind"] == "three_element"
    assert ALICE_ID not in str(events) and "张" not in str(events) and "13800130027" not in str(events)


def test_non_subscribers_cannot_use_the_self_service_side(world: World) -> None:
    with pytest.raises(Forbidden):
        world.subscriber.list(CLERK)


# -- the migration --------------------------------------------------------------------------------


def test_migration_downgrades_and_upgrades_again(engine: sa.Engine) -> None:
    from alembic import command

    from realname.adapters.storage.migrate import _config

    config = _config()
    with engine.connect() as connection, connection.begin():
        config.attributes["connection"] = connection
        command.downgrade(config, "0005_terminals")
    assert "relying_party" not in sa.inspect(engine).get_table_names()
    assert "name_index" not in {c["name"] for c in sa.inspect(engine).get_columns("subscriber")}
    upgrade(engine)
    assert {"relying_party", "party_check", "party_nonce", "party_usage", "check_block", "party_case"} <= set(
        sa.inspect(engine).get_table_names()
    )


def test_consent_must_be_valid(world: World) -> None:
    world.register(28, ALICE_ID)
    signed = world.signed(world.bank, b"{}")
    future = CheckInquiry(CheckKind.STATUS, n(28), Consent("consent-x", world.clock.now() + timedelta(hours=1)))
    with pytest.raises(InvalidInput) as refused:
        world.checks.check(signed, lambda _b: future)
    assert refused.value.code == "check.consent_invalid"
    stale = CheckInquiry(CheckKind.STATUS, n(28), Consent("consent-x", datetime(2020, 1, 1, tzinfo=UTC)))
    with pytest.raises(InvalidInput) as old:
        world.checks.check(world.signed(world.bank, b"{}"), lambda _b: stale)
    assert old.value.code == "check.consent_stale"


# -- pinned client certificates (mutual TLS) -------------------------------------------------------

CERT_A, CERT_B = cert_fingerprint(b"party certificate A"), cert_fingerprint(b"party certificate B")


def refused_code(world: World, number: int, **kwargs: object) -> str:
    with pytest.raises((Unauthenticated, Forbidden)) as refused:
        world.ask(CheckKind.STATUS, number, id_number=None, name=None, **kwargs)  # type: ignore[arg-type]
    return refused.value.code


def test_a_pinned_party_must_present_exactly_its_certificate(world: World) -> None:
    world.register(20, ALICE_ID)
    pinned = world.add_party("pinned-bank", client_cert_sha256=CERT_A)
    assert world.admin.list(OPERATOR_CLI)[-1].party.client_cert_sha256 == CERT_A  # stored and read back
    assert world.ask(CheckKind.STATUS, 20, credential=pinned, cert=CERT_A)[0] is CheckResult.ACTIVE
    assert refused_code(world, 20, credential=pinned) == "party.client_cert_required"
    assert refused_code(world, 20, credential=pinned, cert=CERT_B) == "party.client_cert_mismatch"
    # The signature is still required with the right certificate.
    forged = {"secret": "not-the-secret-" + "y" * 30}
    assert refused_code(world, 20, credential=pinned, cert=CERT_A, **forged) == "party.signature_invalid"
    # An unpinned party is answered with or without a certificate.
    assert world.ask(CheckKind.STATUS, 20)[0] is CheckResult.ACTIVE
    assert world.ask(CheckKind.STATUS, 20, cert=CERT_B)[0] is CheckResult.ACTIVE
    # Refusals after the signature verified are on the record, like other refused checks; the forged one is not.
    events = rows(world.engine, "SELECT actor, details FROM audit_event WHERE action = 'check.refused'")
    assert sorted((actor, json.loads(str(details))["code"]) for actor, details in events) == [
        ("party:pinned-bank", "party.client_cert_mismatch"),
        ("party:pinned-bank", "party.client_cert_required"),
    ]


def test_a_refused_certificate_spends_the_nonce(world: World) -> None:
    world.register(21, ALICE_ID)
    pinned = world.add_party("pinned-bank", client_cert_sha256=CERT_A)
    assert refused_code(world, 21, credential=pinned, nonce="nonce-cert-000000001") == "party.client_cert_required"
    replayed = refused_code(world, 21, credential=pinned, nonce="nonce-cert-000000001", cert=CERT_A)
    assert replayed == "party.signature_replayed"


def test_pinning_and_clearing_apply_at_once_on_a_worker_that_remembers_the_party(world: World) -> None:
    world.register(22, ALICE_ID)
    other_worker = NumberChecks(world.checks._d)  # a second worker on the same database (its own memory)
    world.checks = other_worker
    assert world.ask(CheckKind.STATUS, 22)[0] is CheckResult.ACTIVE  # remembered by this worker now
    world.admin.pin_client_cert(OPERATOR_CLI, world.bank.party_id, CERT_A)
    assert refused_code(world, 22) == "party.client_cert_required"
    assert world.ask(CheckKind.STATUS, 22, cert=CERT_A)[0] is CheckResult.ACTIVE
    world.admin.pin_client_cert(OPERATOR_CLI, world.bank.party_id, CERT_B)  # a renewed certificate
    assert refused_code(world, 22, cert=CERT_A) == "party.client_cert_mismatch"
    world.admin.pin_client_cert(OPERATOR_CLI, world.bank.party_id, None)
    assert world.ask(CheckKind.STATUS, 22)[0] is CheckResult.ACTIVE
    actions = rows(world.engine, "SELECT action FROM audit_event WHERE action LIKE 'party.client_cert_%'")
    assert sorted(str(a) for (a,) in actions) == [
        "party.client_cert_cleared",
        "party.client_cert_pinned",
        "party.client_cert_pinned",
    ]


def test_pinning_refuses_bad_fingerprints_unknown_parties_and_no_change(world: World) -> None:
    with pytest.raises(InvalidInput) as bad:
        world.admin.pin_client_cert(OPERATOR_CLI, world.bank.party_id, "AB:CD")
    assert bad.value.code == "party.client_cert_invalid"
    with pytest.raises(NotFound):
        world.admin.pin_client_cert(OPERATOR_CLI, "no-such-party", CERT_A)
    with pytest.raises(Conflict) as unchanged:
        world.admin.pin_client_cert(OPERATOR_CLI, world.bank.party_id, None)
    assert unchanged.value.code == "party.unchanged"
    with pytest.raises(Forbidden):
        world.admin.pin_client_cert(CLERK, world.bank.party_id, CERT_A)


def test_0015_adds_the_pinned_certificate_column_and_goes_back_down(engine: sa.Engine) -> None:
    (column,) = [c for c in sa.inspect(engine).get_columns("relying_party") if c["name"] == "client_cert_sha256"]
    assert column["nullable"] and getattr(column["type"], "length", None) == 64  # as party_tables declares
    assert party_metadata.tables["relying_party"].c.client_cert_sha256.type.length == 64  # type: ignore[attr-defined]
    downgrade(engine, "0014_receipt_copies")
    assert "client_cert_sha256" not in {c["name"] for c in sa.inspect(engine).get_columns("relying_party")}
    upgrade(engine)
    assert "client_cert_sha256" in {c["name"] for c in sa.inspect(engine).get_columns("relying_party")}
