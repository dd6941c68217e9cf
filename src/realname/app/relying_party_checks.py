"""Number–identity checks for relying parties: the parties' administration, the signed check itself, and
the subscriber's view of every check on their numbers (block, report as unwanted).

Each check runs in a transaction: the party and its secret are loaded, the HMAC signature, the replay
window and the nonce are checked, the per-minute rate and the daily quota are taken, enumeration is
looked for, the answer is computed through blind indexes (never a name or ID number in clear), and the
check row (with the consent reference encrypted) and its audit event are written. A refusal after the
nonce was claimed still commits, so the nonce (and a suspension) stick. A party with a pinned client
certificate is refused unless the connection presented exactly that certificate (checked once the signature
verified, and audited like any other refusal). Concurrent checks of one worker may
share one transaction and one commit (``check_many``; ``app/check_batches.py`` gathers them), each handled
as if alone, and none answered before the commit.
"""

from __future__ import annotations

import secrets as _stdlib_secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Protocol

from realname.app.actors import Actor
from realname.app.attempts import subject_key
from realname.app.ports import BlindIndexer, Clock, FieldCipher, IdGenerator
from realname.app.privacy import CHECK_CONSENT, PARTY_CONTACT, PARTY_SECRET
from realname.app.unit_of_work import (
    AttemptRepository,
    AuditLog,
    BindingRepository,
    NumberRepository,
    PartyStandings,
    ReviewRepository,
    Transaction,
)
from realname.domain.attempts import Purpose
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.errors import (
    Conflict,
    DependencyUnavailable,
    Forbidden,
    InvalidInput,
    NotFound,
    RealnameError,
    Unauthenticated,
)
from realname.domain.identity.document_check import check_document
from realname.domain.identity.documents import AUTO, KindChoice
from realname.domain.identity.regions import RegionDirectory
from realname.domain.numbers import Msisdn, NumberState
from realname.domain.organisation import Role
from realname.domain.relying_parties import (
    BindingSpan,
    CheckKind,
    CheckPolicy,
    CheckResult,
    Consent,
    Elements,
    PartyStatus,
    RelyingParty,
    SignedRequest,
    enumeration_suspected,
    held_since,
    identity_result,
    name_index_key,
    normalise_name,
    probe_ref,
    require_daily_quota,
    require_fresh,
    require_party_status_change,
    require_rate,
    require_valid_signature,
)
from realname.domain.reviews import CaseKind
from realname.domain.subscribers import BlindIndex

PARTY_CACHE_SIZE = 1024
"""Parties (with their opened client secrets) one worker keeps in memory."""


# -- values --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckInquiry:
    """One check as a party asks it. Which fields are needed depends on ``kind``."""

    kind: CheckKind
    msisdn: Msisdn
    consent: Consent
    id_number: str | None = None
    id_kind: KindChoice = AUTO
    name: str | None = None
    since: date | None = None

    def __repr__(self) -> str:
        return f"CheckInquiry({self.kind.value}, {self.msisdn!r})"


@dataclass(frozen=True, slots=True)
class CheckAnswer:
    check_id: str
    kind: CheckKind
    result: CheckResult
    checked_at: datetime
    elements: Elements | None
    """Only for parties registered with ``sees_elements``."""


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """A stored check. ``subscriber_id`` is the number's holder at the time (None when unbound)."""

    id: str
    party_id: str
    kind: CheckKind
    msisdn: str
    subscriber_id: str | None
    probe: str | None
    result: CheckResult
    checked_at: datetime
    consent_given_at: datetime
    reported_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CheckBlock:
    id: str
    subscriber_id: str
    msisdn: str | None
    party_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewPartyCredential:
    """Shown once: the party's id and client secret (the HMAC key, as these ASCII characters)."""

    party_id: str
    secret: str
    secret_version: int

    def __repr__(self) -> str:
        return f"NewPartyCredential({self.party_id}, v{self.secret_version})"


@dataclass(frozen=True, slots=True)
class PartyView:
    party: RelyingParty
    contact: str


@dataclass(frozen=True, slots=True)
class CheckSeen:
    """A check as the subscriber sees it."""

    id: str
    party_id: str
    party_name: str
    purpose: str
    kind: str
    at: datetime
    result: str
    number_masked: str
    consent_reference: str
    consent_given_at: datetime
    reported: bool


@dataclass(frozen=True, slots=True)
class BlockSeen:
    id: str
    number_masked: str | None
    party_id: str | None
    party_name: str | None
    since: datetime


@dataclass(frozen=True, slots=True)
class ChecksSeen:
    checks: tuple[CheckSeen, ...]
    blocks: tuple[BlockSeen, ...]


@dataclass(frozen=True, slots=True)
class Holder:
    """The blind indexes of a number's holder (never the clear values)."""

    id_index: BlindIndex
    name_index: str | None


# -- ports ---------------------------------------------------------------------------------------


class PartyRepository(PartyStandings, Protocol):
    def add(self, party: RelyingParty, secret_ciphertext: bytes, contact_ciphertext: bytes) -> None:
        """Raise Conflict (``party.exists``) when the id is taken."""
        ...

    def get_with_secret(self, party_id: str) -> tuple[RelyingParty, bytes] | None:
        """The party and its sealed client secret, in one read."""
        ...

    def secret_ciphertext(self, party_id: str) -> bytes | None: ...

    def contact_ciphertext(self, party_id: str) -> bytes | None: ...

    def list(self) -> Sequence[RelyingParty]: ...

    def set_secret(self, party_id: str, ciphertext: bytes, version: int) -> None: ...

    def set_client_cert(self, party_id: str, sha256: str | None) -> None:
        """Pin a client certificate by its fingerprint, or (None) require none."""
        ...


class NonceStore(Protocol):
    def claim(self, party_id: str, nonce: str, at: datetime) -> bool:
        """Record the nonce; False when this party used it before (a replay)."""
        ...

    def claim_if_current(self, party: RelyingParty, nonce: str, at: datetime) -> bool:
        """Record the nonce only if the party's stored status, secret version and pinned client certificate are
        still ``party``'s, in one statement; False when they changed or the nonce was used before (nothing
        recorded then)."""
        ...

    def forget_before(self, cutoff: datetime) -> int:
        """Delete nonces first seen before ``cutoff``; how many."""
        ...


class UsageCounters(Protocol):
    def add_use(self, party_id: str, windows: Mapping[str, datetime]) -> None:
        """Count one use in each window (name → start). Concurrent checks of one party do not wait for each
        other here: the use goes to one of several counters (shards) of the window."""
        ...

    def forget_before(self, cutoff: datetime) -> int:
        """Delete the counters of windows that started before ``cutoff``; how many rows."""
        ...


class CheckRepository(Protocol):
    def add(self, record: CheckRecord, consent_ciphertext: bytes) -> None: ...

    def get(self, check_id: str) -> CheckRecord | None: ...

    def consent_ciphertext(self, check_id: str) -> bytes | None: ...

    def of_subscriber(self, subscriber_id: str, limit: int = 200) -> Sequence[CheckRecord]: ...

    def mark_reported(self, check_id: str, at: datetime) -> bool:
        """True if it was not reported before."""
        ...


class BlockRepository(Protocol):
    def add(self, block: CheckBlock) -> None: ...

    def lift(self, block_id: str, subscriber_id: str, at: datetime) -> bool: ...

    def active_of(self, subscriber_id: str) -> Sequence[CheckBlock]: ...


@dataclass(frozen=True, slots=True)
class NumberLookup:
    """A number as a check sees it: its state, its live binding's holder, and whether the holder blocked
    checks on it or by the asking party."""

    state: NumberState
    bound: bool
    subscriber_id: str | None
    holder: Holder | None
    blocked: bool


@dataclass(frozen=True, slots=True)
class CheckSurvey:
    """Everything a check reads before it answers, read in one statement."""

    number: NumberLookup | None
    """None when the number is not in the pool."""
    other_numbers_for_probe: int
    """Since the enumeration window opened, from this party: distinct numbers other than this one checked against
    the probed ID (0 without a probe)."""
    other_probes_for_number: int
    """...and distinct IDs other than the probed one checked against this number."""
    used: Mapping[str, int]
    """Uses counted so far in each usage window asked about."""


class HolderRepository(Protocol):
    def survey(
        self,
        msisdn: str,
        party_id: str,
        *,
        probe: str | None,
        window_since: datetime,
        usage_windows: Mapping[str, datetime],
    ) -> CheckSurvey:
        """The number as a check sees it, the enumeration counts and the party's usage, in one read."""
        ...

    def subscriber_id_of(self, id_index: BlindIndex) -> str | None: ...

    def history(self, msisdn: str) -> list[BindingSpan]:
        """The number's bindings, oldest first."""
        ...


class PartyCaseLinks(Protocol):
    def link(self, case_id: str, party_id: str, check_id: str | None) -> None: ...


class ChecksUnitOfWork(Transaction, Protocol):
    parties: PartyRepository
    nonces: NonceStore
    usage: UsageCounters
    checks: CheckRepository
    blocks: BlockRepository
    holders: HolderRepository
    party_cases: PartyCaseLinks
    numbers: NumberRepository
    bindings: BindingRepository
    attempts: AttemptRepository
    reviews: ReviewRepository
    audit: AuditLog


class ChecksUnitOfWorkFactory(Protocol):
    def __call__(self) -> ChecksUnitOfWork: ...


@dataclass(frozen=True, slots=True)
class ChecksDeps:
    uow: ChecksUnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    cipher: FieldCipher
    blind_index: BlindIndexer
    regions: RegionDirectory
    policy: CheckPolicy
    new_secret: Callable[[], str] = lambda: _stdlib_secrets.token_urlsafe(32)


def _party_ref(party_id: str) -> str:
    return f"party:{party_id}"


# -- administration ------------------------------------------------------------------------------


class PartyAdmin:
    """``realname party add | list | disable | enable | rotate-secret | pin-cert``."""

    def __init__(self, deps: ChecksDeps) -> None:
        self._d = deps

    def add(
        self,
        actor: Actor,
        *,
        party_id: str,
        name: str,
        purpose: str,
        kinds: frozenset[CheckKind],
        daily_quota: int,
        per_minute_limit: int,
        contact: str,
        sees_elements: bool = False,
        client_cert_sha256: str | None = None,
    ) -> NewPartyCredential:
        """Register a party; returns its client secret, shown once.

        Args:
            client_cert_sha256: pin this client certificate (SHA-256 of its DER bytes): every check of the
                party must then come over a connection that presented it.

        Raises:
            InvalidInput: bad id, name, purpose, kinds, quota, contact or fingerprint.
            Conflict: ``party.exists``.
        """
        actor.require(Role.ADMIN)
        if not contact.strip() or len(contact) > 200 or not contact.isprintable():
            raise InvalidInput("a contact is 1–200 printable characters", code="party.contact_invalid")
        now = self._d.clock.now()
        party = RelyingParty(
            party_id,
            name,
            purpose,
            kinds,
            daily_quota,
            per_minute_limit,
            now,
            sees_elements=sees_elements,
            client_cert_sha256=client_cert_sha256,
        )
        secret = self._d.new_secret()
        with self._d.uow() as uow:
            if uow.parties.get(party_id) is not None:
                raise Conflict(f"party {party_id} exists already", code="party.exists")
            uow.parties.add(
                party,
                self._d.cipher.encrypt(secret.encode(), PARTY_SECRET.context(party_id)),
                self._d.cipher.encrypt(contact.encode(), PARTY_CONTACT.context(party_id)),
            )
            self._audit(
                uow,
                actor,
                "party.added",
                party_id,
                {
                    "kinds": ",".join(sorted(k.value for k in kinds)),
                    "daily_quota": daily_quota,
                    "per_minute_limit": per_minute_limit,
                    "sees_elements": sees_elements,
                    "client_cert_sha256": client_cert_sha256,
                },
            )
            uow.commit()
        return NewPartyCredential(party_id, secret, party.secret_version)

    def list(self, actor: Actor) -> Sequence[PartyView]:
        actor.require(Role.ADMIN, Role.AUDITOR)
        with self._d.uow() as uow:
            views = []
            for party in uow.parties.list():
                sealed = uow.parties.contact_ciphertext(party.id)
                contact = self._d.cipher.decrypt(sealed, PARTY_CONTACT.context(party.id)).decode() if sealed else ""
                views.append(PartyView(party, contact))
            return views

    def disable(self, actor: Actor, party_id: str) -> None:
        self._set_status(actor, party_id, PartyStatus.DISABLED, "party.disabled")

    def enable(self, actor: Actor, party_id: str) -> None:
        """Reactivate a disabled party, or a suspended one once its review case is decided."""
        self._set_status(actor, party_id, PartyStatus.ACTIVE, "party.enabled")

    def rotate_secret(self, actor: Actor, party_id: str) -> NewPartyCredential:
        """A new client secret; the old one stops working at once."""
        actor.require(Role.ADMIN)
        secret = self._d.new_secret()
        with self._d.uow() as uow:
            party = self._load(uow, party_id)
            version = party.secret_version + 1
            uow.parties.set_secret(
                party_id, self._d.cipher.encrypt(secret.encode(), PARTY_SECRET.context(party_id)), version
            )
            self._audit(uow, actor, "party.secret_rotated", party_id, {"secret_version": version})
            uow.commit()
        return NewPartyCredential(party_id, secret, version)

    def pin_client_cert(self, actor: Actor, party_id: str, sha256: str | None) -> None:
        """Pin the party's client certificate by its fingerprint (replacing one pinned before), or with None
        require none. Applies to every check that starts after the commit, on every worker.

        Raises:
            InvalidInput: ``party.client_cert_invalid`` (not a SHA-256 fingerprint).
            NotFound: ``party.not_found``.
            Conflict: ``party.unchanged`` (that certificate, or none, is pinned already).
        """
        actor.require(Role.ADMIN)
        with self._d.uow() as uow:
            party = self._load(uow, party_id)
            pinned = replace(party, client_cert_sha256=sha256)  # validates the fingerprint
            if pinned.client_cert_sha256 == party.client_cert_sha256:
                state = "no certificate is" if sha256 is None else "this certificate is"
                raise Conflict(f"{state} pinned for {party_id} already", code="party.unchanged")
            uow.parties.set_client_cert(party_id, sha256)
            action = "party.client_cert_cleared" if sha256 is None else "party.client_cert_pinned"
            self._audit(uow, actor, action, party_id, {"client_cert_sha256": sha256, "was": party.client_cert_sha256})
            uow.commit()

    def forget_nonces(self, actor: Actor) -> int:
        """Delete the nonces older than twice the replay window: a request that old is refused by its
        timestamp anyway, so the nonce store need not grow without end. The usage counters of windows that
        started before yesterday go too (no window counts them any more). Returns the nonces deleted."""
        actor.require(Role.ADMIN)
        now = self._d.clock.now()
        cutoff = now - timedelta(seconds=2 * self._d.policy.replay_window_seconds)
        with self._d.uow() as uow:
            forgotten = uow.nonces.forget_before(cutoff)
            uow.usage.forget_before(now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1))
            uow.commit()
        return forgotten

    def _set_status(self, actor: Actor, party_id: str, status: PartyStatus, action: str) -> None:
        actor.require(Role.ADMIN)
        with self._d.uow() as uow:
            party = self._load(uow, party_id)
            require_party_status_change(party, status)
            uow.parties.set_status(party_id, status, self._d.clock.now())
            self._audit(uow, actor, action, party_id, {"was": party.status.value})
            uow.commit()

    @staticmethod
    def _load(uow: ChecksUnitOfWork, party_id: str) -> RelyingParty:
        party = uow.parties.get(party_id, for_update=True)
        if party is None:
            raise NotFound(f"no party {party_id}", code="party.not_found")
        return party

    def _audit(
        self, uow: ChecksUnitOfWork, actor: Actor, action: str, party_id: str, details: dict[str, JsonValue]
    ) -> None:
        uow.audit.append(AuditRecord(action, actor.ref, None, _party_ref(party_id), details), self._d.clock.now())


# -- the check -----------------------------------------------------------------------------------


class NumberChecks:
    """``POST /v1/checks``: authenticate the signed request and answer it, in one transaction.

    Parties and their opened client secrets are kept in memory (up to ``PARTY_CACHE_SIZE``) so that a check
    does not read the party row: the statement that spends the nonce also checks that the stored status and
    secret version are still the remembered ones (``NonceStore.claim_if_current``). When they are not (the
    party was disabled, suspended, enabled or its secret rotated, by any worker or host), the party is read
    afresh and the check goes on with what is stored: a change applies to every check that starts after it
    committed, with no staleness window.
    """

    def __init__(self, deps: ChecksDeps) -> None:
        self._d = deps
        self._parties: dict[str, tuple[RelyingParty, bytes]] = {}
        self._unknown_party_secret = _stdlib_secrets.token_bytes(32)

    def check(self, signed: SignedRequest, parse: Callable[[bytes], CheckInquiry]) -> CheckAnswer:
        """Answer one signed check (a batch of one: see :meth:`check_many`).

        Args:
            signed: the request as received (headers, method, path, raw body).
            parse: turns the body into an inquiry, raising ``InvalidInput`` for a bad one; called only
                after the signature verified.

        Raises:
            Unauthenticated: ``party.signature_missing|invalid|expired|replayed``, ``party.client_cert_required``.
            Forbidden: ``party.disabled|suspended``, ``party.client_cert_mismatch``, ``check.kind_not_allowed``.
            RateLimited: ``party.rate_limited|quota_exceeded``.
            InvalidInput: a malformed inquiry (bad number, ID number, name, consent).
            DependencyUnavailable: the database (or another dependency) failed; nothing was recorded.
        """
        (outcome,) = self.check_many([(signed, parse)])
        if isinstance(outcome, RealnameError):
            raise outcome
        return outcome

    def check_many(
        self, requests: Sequence[tuple[SignedRequest, Callable[[bytes], CheckInquiry]]]
    ) -> list[CheckAnswer | RealnameError]:
        """Answer several signed checks in one transaction and one commit (group commit).

        Each check is handled exactly as if it ran alone, one after the other, in the given order: a later
        check sees what an earlier one wrote (its nonce, its counted use, a suspension). Each outcome is the
        check's answer or the typed error it was refused with (a refused check that was authenticated leaves
        its nonce, its use and its ``check.refused`` event, as alone). Outcomes are returned only after the
        commit succeeded.

        Raises:
            DependencyUnavailable | Conflict: the database (or another dependency) failed for any check, or at
                the commit: nothing of any check in the batch is recorded and none is answered (fail closed).
        """
        outcomes: list[CheckAnswer | RealnameError | None] = []
        for signed, _parse in requests:
            try:
                signed.require_well_formed()  # malformed requests never open a transaction
                outcomes.append(None)
            except RealnameError as malformed:
                outcomes.append(malformed)
        if any(outcome is None for outcome in outcomes):
            with self._d.uow() as uow:
                for i, (signed, parse) in enumerate(requests):
                    if outcomes[i] is not None:
                        continue
                    try:
                        outcomes[i] = self._check_in(uow, signed, parse)
                    except DependencyUnavailable:
                        raise
                    except RealnameError as refused:
                        outcomes[i] = refused
                uow.commit()
        return [outcome for outcome in outcomes if outcome is not None]

    def _check_in(
        self, uow: ChecksUnitOfWork, signed: SignedRequest, parse: Callable[[bytes], CheckInquiry]
    ) -> CheckAnswer:
        """One check inside the batch's transaction. A refusal raised before the party is authenticated has
        written nothing; one raised after it leaves its ``check.refused`` event (written here) to the commit."""
        timestamp = signed.require_well_formed()
        now = self._d.clock.now()
        party = self._remembered(uow, signed, timestamp, now)
        if party is None:
            party = self._authenticate(uow, signed, timestamp, now)
        inquiry: CheckInquiry | None = None
        try:
            # After the signature: an unsigned request learns nothing about which parties pin a certificate.
            party.require_client_cert(signed.client_cert_sha256)
            inquiry = parse(signed.body)
            return self._answer(uow, party, inquiry, now)
        except DependencyUnavailable:
            raise
        except RealnameError as refused:
            # An authenticated request that was refused is on the record too (a party probing its
            # limits, or kinds it is not allowed, shows in the chain); unauthenticated ones are not,
            # or anyone could fill the log. The nonce, the counted use or the suspension stay recorded.
            uow.audit.append(_refusal(party.id, inquiry, refused.code), now)
            raise

    def _remembered(
        self, uow: ChecksUnitOfWork, signed: SignedRequest, timestamp: int, now: datetime
    ) -> RelyingParty | None:
        """The party as remembered, when the request verifies with its remembered secret and the nonce was
        spent while the stored party is still as remembered; otherwise None (and nothing spent)."""
        found = self._parties.get(signed.party_id)
        if found is None:
            return None
        party, secret = found
        try:
            require_valid_signature(secret, signed)
        except Unauthenticated:
            return None  # perhaps signed with a newer secret: decide with the stored party
        require_fresh(timestamp, now, self._d.policy.replay_window_seconds)
        if uow.nonces.claim_if_current(party, signed.nonce, now):
            return party
        self._parties.pop(signed.party_id, None)
        return None

    def _authenticate(
        self, uow: ChecksUnitOfWork, signed: SignedRequest, timestamp: int, now: datetime
    ) -> RelyingParty:
        found = uow.parties.get_with_secret(signed.party_id)
        if found is None:
            # An unknown party looks like a forged signature, and costs the same HMAC: party ids are
            # not enumerable by the answer or by its timing.
            require_valid_signature(self._unknown_party_secret, signed)
            raise Unauthenticated("the request signature does not verify", code="party.signature_invalid")
        party, sealed = found
        secret = self._d.cipher.decrypt(sealed, PARTY_SECRET.context(party.id))
        require_valid_signature(secret, signed)
        require_fresh(timestamp, now, self._d.policy.replay_window_seconds)
        if not uow.nonces.claim(party.id, signed.nonce, now):
            raise Unauthenticated("this nonce was used before", code="party.signature_replayed")
        if len(self._parties) >= PARTY_CACHE_SIZE:
            self._parties.clear()
        self._parties[party.id] = (party, secret)
        return party

    def _answer(self, uow: ChecksUnitOfWork, party: RelyingParty, inquiry: CheckInquiry, now: datetime) -> CheckAnswer:
        party.require_usable()
        party.require_allowed(inquiry.kind)
        inquiry.consent.require_valid(now, self._d.policy)
        id_index = self._id_index(inquiry)
        name = normalise_name(inquiry.name) if inquiry.kind is CheckKind.THREE_ELEMENT and inquiry.name else None
        if inquiry.kind is CheckKind.THREE_ELEMENT and name is None:
            raise InvalidInput("a three-element check needs a name", code="check.name_invalid")
        if inquiry.kind is CheckKind.HELD_SINCE and (inquiry.since is None or inquiry.since > now.date()):
            raise InvalidInput("a held-since check needs a date that is not in the future", code="check.since_invalid")
        msisdn = str(inquiry.msisdn)
        probe = probe_ref(party.id, id_index.value) if id_index else None
        minute = now.replace(second=0, microsecond=0)
        windows = {"minute": minute, "day": minute.replace(hour=0, minute=0)}
        survey = uow.holders.survey(
            msisdn,
            party.id,
            probe=probe,
            window_since=now - timedelta(minutes=self._d.policy.enumeration_window_minutes),
            usage_windows=windows,
        )
        if probe is not None:
            self._refuse_enumeration(uow, party, msisdn, survey, now)
        # The counts were read without a lock: checks of one party running at the same moment may each see
        # the others' uses uncounted, so a window may take as many more uses as such checks ran concurrently.
        require_rate(survey.used.get("minute", 0), party, now)
        require_daily_quota(survey.used.get("day", 0), party, now)

        found = survey.number
        holder_id = found.subscriber_id if found else None
        holder = found.holder if found else None
        in_service = found is not None and found.bound and found.state is NumberState.ACTIVE
        elements: Elements | None = None
        if found is not None and found.blocked:
            result = CheckResult.BLOCKED
        elif inquiry.kind is CheckKind.STATUS:
            result = _status(found.state if found and found.bound else None)
        elif inquiry.kind is CheckKind.HELD_SINCE:
            assert inquiry.since is not None
            result = (
                CheckResult.MATCH
                if in_service and held_since(uow.holders.history(msisdn), inquiry.since)
                else CheckResult.NO_MATCH
            )
        else:
            assert id_index is not None
            elements = Elements(
                number_in_service=in_service,
                id_number=holder is not None and holder.id_index == id_index,
                name=self._name_matches(holder, holder_id, name) if name is not None else None,
            )
            result = identity_result(elements)

        check_id = self._d.ids.new_id()
        uow.checks.add(
            CheckRecord(
                check_id, party.id, inquiry.kind, msisdn, holder_id, probe, result, now, inquiry.consent.given_at
            ),
            self._d.cipher.encrypt(inquiry.consent.reference.encode(), CHECK_CONSENT.context(check_id)),
        )
        uow.usage.add_use(party.id, windows)
        uow.audit.append(
            AuditRecord(
                "number.checked",
                _party_ref(party.id),
                None,
                holder.id_index.reference if holder else f"number:{inquiry.msisdn.masked}",
                {"check": check_id, "kind": inquiry.kind.value, "number": inquiry.msisdn.masked, "result": result},
            ),
            now,
        )
        return CheckAnswer(check_id, inquiry.kind, result, now, elements if party.sees_elements else None)

    def _id_index(self, inquiry: CheckInquiry) -> BlindIndex | None:
        if inquiry.kind not in (CheckKind.THREE_ELEMENT, CheckKind.TWO_ELEMENT):
            return None
        if not inquiry.id_number or len(inquiry.id_number) > 100:
            raise InvalidInput("this check needs an ID number", code="check.id_number_invalid")
        document = check_document(
            inquiry.id_number,
            kind=inquiry.id_kind,
            today=self._d.clock.now().date(),
            regions=self._d.regions,
            min_age=0,
        )
        if not document.valid or document.number is None:
            raise InvalidInput(
                "the ID number is malformed: " + ", ".join(document.reasons), code="check.id_number_invalid"
            )
        return BlindIndex(self._d.blind_index.index(subject_key(document)))

    def _name_matches(self, holder: Holder | None, holder_id: str | None, name: str) -> bool:
        if holder is None or holder_id is None or holder.name_index is None:
            return False
        return holder.name_index == self._d.blind_index.index(name_index_key(holder_id, name))

    def _refuse_enumeration(
        self, uow: ChecksUnitOfWork, party: RelyingParty, msisdn: str, survey: CheckSurvey, now: datetime
    ) -> None:
        numbers, ids = survey.other_numbers_for_probe + 1, survey.other_probes_for_number + 1
        if not enumeration_suspected(numbers, ids, self._d.policy):
            return
        uow.parties.set_status(party.id, PartyStatus.SUSPENDED, now)
        case_id = self._d.ids.new_id()
        uow.reviews.open(case_id, CaseKind.PARTY_ENUMERATION.value, None, None, msisdn, now)
        uow.party_cases.link(case_id, party.id, None)
        uow.audit.append(
            AuditRecord(
                "party.suspended",
                "system",
                None,
                _party_ref(party.id),
                {
                    "reason": "enumeration",
                    "case": case_id,
                    "numbers_for_one_id": numbers,
                    "ids_for_one_number": ids,
                    "window_minutes": self._d.policy.enumeration_window_minutes,
                },
            ),
            now,
        )
        raise Forbidden("this party's key is suspended pending review", code="party.suspended")


def _refusal(party_id: str, inquiry: CheckInquiry | None, code: str) -> AuditRecord:
    """``check.refused``: the party, the refusal's code and, when the body parsed, the kind and masked number."""
    return AuditRecord(
        "check.refused",
        _party_ref(party_id),
        None,
        f"number:{inquiry.msisdn.masked}" if inquiry else _party_ref(party_id),
        {
            "code": code,
            "kind": inquiry.kind.value if inquiry else None,
            "number": inquiry.msisdn.masked if inquiry else None,
        },
    )


def _status(state: NumberState | None) -> CheckResult:
    if state is NumberState.ACTIVE:
        return CheckResult.ACTIVE
    if state is NumberState.SUSPENDED:
        return CheckResult.SUSPENDED
    return CheckResult.NOT_IN_SERVICE


# -- the subscriber's side -----------------------------------------------------------------------


class SubscriberChecks:
    """``/v1/self/checks``: the verified subscriber sees, blocks and reports checks on their numbers."""

    def __init__(self, deps: ChecksDeps) -> None:
        self._d = deps

    def _subscriber(self, uow: ChecksUnitOfWork, actor: Actor) -> tuple[str, BlindIndex, str | None]:
        """(self-service attempt id, the verified ID's blind index, the subscriber's row id if any).

        Uses the self-service session as it stands: a subscriber token names its own attempt, which must be
        an approved self-service attempt.
        """
        if actor.role is not Role.SUBSCRIBER:
            raise Forbidden("this page is for subscribers checking their own records", code="auth.role_forbidden")
        attempt_id = actor.ref.removeprefix("self:")
        attempt = uow.attempts.get(attempt_id)
        if attempt is None or actor.ref != f"self:{attempt.id}":
            raise NotFound("no such attempt", code="attempt.not_found")
        if attempt.purpose is not Purpose.SELF_SERVICE:
            raise Conflict("this attempt is not for self_service", code="attempt.wrong_purpose")
        attempt.require_approved(self._d.clock.now())
        assert attempt.id_index is not None
        return attempt.id, attempt.id_index, uow.holders.subscriber_id_of(attempt.id_index)

    def list(self, actor: Actor) -> ChecksSeen:
        """Every check on the subscriber's numbers (while they held them), newest first, and their blocks."""
        with self._d.uow() as uow:
            attempt_id, id_index, subscriber_id = self._subscriber(uow, actor)
            parties: dict[str, RelyingParty | None] = {}

            def party(pid: str) -> RelyingParty | None:
                if pid not in parties:
                    parties[pid] = uow.parties.get(pid)
                return parties[pid]

            seen: list[CheckSeen] = []
            blocks: list[BlockSeen] = []
            if subscriber_id is not None:
                for record in uow.checks.of_subscriber(subscriber_id):
                    found = party(record.party_id)
                    sealed = uow.checks.consent_ciphertext(record.id)
                    reference = (
                        self._d.cipher.decrypt(sealed, CHECK_CONSENT.context(record.id)).decode() if sealed else ""
                    )
                    seen.append(
                        CheckSeen(
                            record.id,
                            record.party_id,
                            found.name if found else record.party_id,
                            found.purpose if found else "",
                            record.kind.value,
                            record.checked_at,
                            record.result.value,
                            Msisdn(record.msisdn).masked,
                            reference,
                            record.consent_given_at,
                            record.reported_at is not None,
                        )
                    )
                for block in uow.blocks.active_of(subscriber_id):
                    named = party(block.party_id) if block.party_id else None
                    blocks.append(
                        BlockSeen(
                            block.id,
                            Msisdn(block.msisdn).masked if block.msisdn else None,
                            block.party_id,
                            named.name if named else None,
                            block.created_at,
                        )
                    )
            uow.audit.append(
                AuditRecord("subscriber.checks_viewed", actor.ref, None, id_index.reference, {"attempt": attempt_id}),
                self._d.clock.now(),
            )
            uow.commit()
        return ChecksSeen(tuple(seen), tuple(blocks))

    def block(self, actor: Actor, *, number_ref: str | None = None, party_id: str | None = None) -> CheckBlock:
        """Block every check on one of the subscriber's numbers (``number_ref`` from ``/v1/self/records``) or
        every check by one party, on all their numbers.

        Raises:
            InvalidInput: neither or both given.
            NotFound: ``number.not_held`` / ``party.not_found``.
        """
        if (number_ref is None) == (party_id is None):
            raise InvalidInput("block either one number or one party", code="block.target_invalid")
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt_id, id_index, subscriber_id = self._subscriber(uow, actor)
            msisdn: str | None = None
            if number_ref is not None:
                held = uow.bindings.active_of_subscriber(subscriber_id) if subscriber_id else ()
                binding = next((b for b in held if b.id == number_ref), None)
                if binding is None:
                    raise NotFound("the verified person holds no such number", code="number.not_held")
                msisdn = str(binding.msisdn)
            elif party_id is None or uow.parties.get(party_id) is None:
                raise NotFound("no such party", code="party.not_found")
            if subscriber_id is None:
                raise NotFound("the verified person holds no number", code="number.not_held")
            block = CheckBlock(self._d.ids.new_id(), subscriber_id, msisdn, party_id, now)
            uow.blocks.add(block)
            uow.audit.append(
                AuditRecord(
                    "checks.blocked",
                    actor.ref,
                    None,
                    id_index.reference,
                    {
                        "attempt": attempt_id,
                        "block": block.id,
                        "number": Msisdn(msisdn).masked if msisdn else None,
                        "party": party_id,
                    },
                ),
                now,
            )
            uow.commit()
        return block

    def unblock(self, actor: Actor, block_id: str) -> None:
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt_id, id_index, subscriber_id = self._subscriber(uow, actor)
            if subscriber_id is None or not uow.blocks.lift(block_id, subscriber_id, now):
                raise NotFound("no such block", code="block.not_found")
            uow.audit.append(
                AuditRecord(
                    "checks.unblocked", actor.ref, None, id_index.reference, {"attempt": attempt_id, "block": block_id}
                ),
                now,
            )
            uow.commit()

    def report(self, actor: Actor, check_id: str) -> str:
        """Report a check as unwanted: a review case against the party. Returns the case id.

        Raises:
            NotFound: ``check.not_found`` (also another person's check).
            Conflict: ``check.reported_already``.
        """
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt_id, id_index, subscriber_id = self._subscriber(uow, actor)
            record = uow.checks.get(check_id)
            if record is None or subscriber_id is None or record.subscriber_id != subscriber_id:
                raise NotFound("no such check on your numbers", code="check.not_found")
            if not uow.checks.mark_reported(check_id, now):
                raise Conflict("this check was reported already", code="check.reported_already")
            case_id = self._d.ids.new_id()
            uow.reviews.open(case_id, CaseKind.UNWANTED_CHECK.value, attempt_id, id_index, record.msisdn, now)
            uow.party_cases.link(case_id, record.party_id, check_id)
            uow.audit.append(
                AuditRecord(
                    "check.reported_unwanted",
                    actor.ref,
                    None,
                    id_index.reference,
                    {"attempt": attempt_id, "check": check_id, "party": record.party_id, "case": case_id},
                ),
                now,
            )
            uow.commit()
        return case_id
