"""Relying parties (banks, payment apps, platforms) and the number–identity checks they may ask.

A party is registered by an admin with a purpose, the check kinds it may ask, a daily quota and a
per-minute rate. It signs each request with its client secret (HMAC-SHA-256 over method, path,
timestamp, nonce and the body's SHA-256); this module builds the exact bytes that are signed and
says whether a timestamp is inside the replay window. Answers are ``match`` / ``no_match`` (or a
number's status) and never carry a name or an ID number; a party learns which element failed only
if it was registered with ``sees_elements``. A party may also have a client certificate pinned (the SHA-256
of its DER bytes): then each of its checks must come over a connection that presented exactly that
certificate (verified by the TLS layer), on top of the signature.

Pure: no clock, randomness or I/O. Callers pass ``now``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from realname.domain.errors import Conflict, Forbidden, InvalidInput, TooManyRequests, Unauthenticated

SIGNATURE_SCHEME = "REALNAME-HMAC-SHA256"
_PARTY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,47}$")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
_CONSENT_REF = re.compile(r"^[A-Za-z0-9._:/-]{4,128}$")
_NAME_SEPARATORS = str.maketrans(dict.fromkeys("\u2022\u2027\u2219\u30fb\u00b7", "\u00b7"))


class CheckKind(enum.StrEnum):
    THREE_ELEMENT = "three_element"
    """number + name + ID number: the number's active binding belongs to that identity."""
    TWO_ELEMENT = "two_element"
    """number + ID number."""
    HELD_SINCE = "held_since"
    """the number has not changed hands since a date."""
    STATUS = "status"
    """active / suspended / not in service, without identity."""


class CheckResult(enum.StrEnum):
    MATCH = "match"
    NO_MATCH = "no_match"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    NOT_IN_SERVICE = "not_in_service"
    BLOCKED = "blocked"
    """The subscriber blocked checks on this number or by this party: nothing is compared."""


class PartyStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    """By an admin."""
    SUSPENDED = "suspended"
    """By enumeration detection: the key stops working until a reviewer or admin acts."""


class RateLimited(TooManyRequests):
    """A party asked more than its quota or rate allows (HTTP 429, ``Retry-After`` when the window renews)."""

    code = "party.rate_limited"


def party_id_valid(party_id: str) -> bool:
    return bool(_PARTY_ID.fullmatch(party_id))


@dataclass(frozen=True, slots=True)
class CheckPolicy:
    """Tunables of the checks (``REALNAME_CHECKS__*``)."""

    replay_window_seconds: int = 300
    enumeration_window_minutes: int = 60
    max_numbers_per_id: int = 5
    """Distinct numbers one party may check against one ID within the window before it is suspended."""
    max_ids_per_number: int = 5
    """Distinct IDs one party may check against one number within the window before it is suspended."""
    max_consent_age_days: int = 366

    def __post_init__(self) -> None:
        for name in ("replay_window_seconds", "enumeration_window_minutes", "max_numbers_per_id", "max_ids_per_number"):
            if getattr(self, name) <= 0:
                raise ValueError(f"checks.{name} must be positive")


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """A registered relying party. ``contact`` is kept encrypted and read only by admins."""

    id: str
    name: str
    purpose: str
    allowed_kinds: frozenset[CheckKind]
    daily_quota: int
    per_minute_limit: int
    created_at: datetime
    status: PartyStatus = PartyStatus.ACTIVE
    sees_elements: bool = False
    secret_version: int = 1
    client_cert_sha256: str | None = None
    """The pinned client certificate (SHA-256 of its DER bytes, lower-case hex); None: none is required."""

    def __post_init__(self) -> None:
        if self.client_cert_sha256 is not None and not _FINGERPRINT.fullmatch(self.client_cert_sha256):
            raise InvalidInput(
                "a certificate fingerprint is 64 lower-case hex digits", code="party.client_cert_invalid"
            )
        if not party_id_valid(self.id):
            raise InvalidInput("a party id is 3–48 lower-case letters, digits or '-'", code="party.id_invalid")
        if not self.allowed_kinds:
            raise InvalidInput("a party needs at least one allowed check kind", code="party.kinds_required")
        if self.daily_quota < 1 or self.per_minute_limit < 1:
            raise InvalidInput("quota and rate limit must be at least 1", code="party.quota_invalid")
        for label, text, limit in (("name", self.name, 200), ("purpose", self.purpose, 500)):
            if not text.strip() or len(text) > limit or not text.isprintable():
                raise InvalidInput(f"the {label} is 1–{limit} printable characters", code=f"party.{label}_invalid")

    def require_usable(self) -> None:
        if self.status is PartyStatus.DISABLED:
            raise Forbidden("this party is disabled", code="party.disabled")
        if self.status is PartyStatus.SUSPENDED:
            raise Forbidden("this party's key is suspended pending review", code="party.suspended")

    def require_allowed(self, kind: CheckKind) -> None:
        if kind not in self.allowed_kinds:
            raise Forbidden(f"this party may not ask {kind.value} checks", code="check.kind_not_allowed")

    def require_client_cert(self, presented_sha256: str | None) -> None:
        """A party with a pinned certificate must present exactly that one; a party without may present any
        certificate or none (the signature is what authenticates it).

        Args:
            presented_sha256: the fingerprint of the certificate the TLS layer verified on this request's
                connection (or a trusted TLS-terminating proxy reported), None when there was none.

        Raises:
            Unauthenticated: ``party.client_cert_required`` (none presented).
            Forbidden: ``party.client_cert_mismatch`` (another certificate, even one the CA signed).
        """
        if self.client_cert_sha256 is None:
            return
        if presented_sha256 is None:
            raise Unauthenticated(
                "this party's checks must come over TLS with its pinned client certificate",
                code="party.client_cert_required",
            )
        if not hmac.compare_digest(presented_sha256, self.client_cert_sha256):
            raise Forbidden(
                "the client certificate is not the one pinned for this party", code="party.client_cert_mismatch"
            )


def cert_fingerprint(der: bytes) -> str:
    """The fingerprint a party's certificate is pinned by: SHA-256 of its DER bytes, lower-case hex."""
    return hashlib.sha256(der).hexdigest()


def parse_fingerprint(text: str) -> str | None:
    """A SHA-256 fingerprint as proxies and tools write it (hex, any case, optionally ``:``-separated pairs,
    optionally prefixed ``sha256:``), as :func:`cert_fingerprint` writes it; None when it is not one."""
    value = text.strip().lower().removeprefix("sha256:").removeprefix("sha256=")
    if ":" in value:
        pairs = value.split(":")
        if any(len(pair) != 2 for pair in pairs):
            return None
        value = "".join(pairs)
    return value if _FINGERPRINT.fullmatch(value) else None


# -- signed requests -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a party sent: the four signature headers and the request they sign."""

    party_id: str
    timestamp: str
    nonce: str
    signature: str = field(repr=False)
    method: str
    path: str
    body: bytes = field(repr=False)
    client_cert_sha256: str | None = None
    """The fingerprint of the client certificate the connection presented (verified by the TLS layer), if any."""

    def require_well_formed(self) -> int:
        """The timestamp as Unix seconds. Raises ``party.signature_missing`` for absent or malformed headers."""
        missing = Unauthenticated(
            "sign the request: X-Realname-Party, X-Realname-Timestamp, X-Realname-Nonce, X-Realname-Signature",
            code="party.signature_missing",
        )
        if not (self.party_id and self.timestamp and self.nonce and self.signature):
            raise missing
        if not (
            party_id_valid(self.party_id)
            and self.timestamp.isascii()
            and self.timestamp.isdigit()
            and len(self.timestamp) <= 12
            and _NONCE.fullmatch(self.nonce)
            and _SIGNATURE.fullmatch(self.signature)
        ):
            raise missing
        return int(self.timestamp)


def canonical_request(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The exact bytes a party signs: scheme, method, path, timestamp, nonce and the body's SHA-256, one a line."""
    body_sha256 = hashlib.sha256(body).hexdigest()
    return "\n".join((SIGNATURE_SCHEME, method.upper(), path, timestamp, nonce, body_sha256)).encode()


def sign_request(secret: bytes, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """HMAC-SHA-256 of :func:`canonical_request` under the party's secret, as 64 hex characters."""
    return hmac.new(secret, canonical_request(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


def require_valid_signature(secret: bytes, request: SignedRequest) -> None:
    expected = sign_request(secret, request.method, request.path, request.timestamp, request.nonce, request.body)
    if not hmac.compare_digest(expected, request.signature):
        raise Unauthenticated("the request signature does not verify", code="party.signature_invalid")


def require_fresh(timestamp_seconds: int, now: datetime, window_seconds: int) -> None:
    if abs(now.timestamp() - timestamp_seconds) > window_seconds:
        raise Unauthenticated(
            f"the request timestamp is more than {window_seconds} s from the server's clock",
            code="party.signature_expired",
        )


# -- check inputs --------------------------------------------------------------------------------


def normalise_name(name: str) -> str:
    """NFKC, one space between words, one middle dot for the separators of transliterated names, case-folded."""
    text = unicodedata.normalize("NFKC", name).translate(_NAME_SEPARATORS)
    text = " ".join(text.split())
    text = re.sub(r"\s*·\s*", "·", text)
    if not text or len(text) > 100 or not text.isprintable():
        raise InvalidInput("a name is 1–100 printable characters", code="check.name_invalid")
    return text.casefold()


def name_index_key(subscriber_id: str, normalised_name: str) -> str:
    """What the blind index is computed over for a subscriber's name: bound to the subscriber's row, so equal
    names of two people do not share an index."""
    return f"name:{subscriber_id}:{normalised_name}"


@dataclass(frozen=True, slots=True)
class Consent:
    """The subscriber's consent as the party recorded it: its reference and when it was given."""

    reference: str
    given_at: datetime

    def require_valid(self, now: datetime, policy: CheckPolicy) -> None:
        if not _CONSENT_REF.fullmatch(self.reference):
            raise InvalidInput(
                "a consent reference is 4–128 characters of letters, digits and . _ : / -", code="check.consent_invalid"
            )
        if self.given_at.tzinfo is None:
            raise InvalidInput("consent.given_at needs a time zone", code="check.consent_invalid")
        if self.given_at > now + timedelta(minutes=5):
            raise InvalidInput("consent cannot be given in the future", code="check.consent_invalid")
        if self.given_at < now - timedelta(days=policy.max_consent_age_days):
            raise InvalidInput(
                f"consent older than {policy.max_consent_age_days} days does not cover a check",
                code="check.consent_stale",
            )


def probe_ref(party_id: str, id_index: str) -> str:
    """A party-scoped reference of an ID asked about, for enumeration detection: stored instead of the
    blind index, so check rows cannot be joined to subscribers or across parties."""
    return hashlib.sha256(f"probe|{party_id}|{id_index}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Elements:
    """Which elements matched; returned only to parties registered with ``sees_elements``."""

    number_in_service: bool
    id_number: bool | None = None
    name: bool | None = None


def identity_result(elements: Elements) -> CheckResult:
    ok = elements.number_in_service and elements.id_number is not False and elements.name is not False
    return CheckResult.MATCH if ok else CheckResult.NO_MATCH


@dataclass(frozen=True, slots=True)
class BindingSpan:
    """One binding of a number in its history: who held it, from when, until when and why it ended."""

    subscriber_id: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None


def held_since(history: list[BindingSpan], since: date) -> bool:
    """Whether the number's current holder has held it without a break since the start of ``since`` (UTC).

    ``history`` is the number's bindings, oldest first. SIM replacements end a binding and start the next
    one for the same holder at once; they do not break the holding. Any other end (surrender, cancellation)
    does, even if the same person registered the number again later.
    """
    if not history or history[-1].ended_at is not None:
        return False
    holder = history[-1].subscriber_id
    start = history[-1].started_at
    for earlier in reversed(history[:-1]):
        if earlier.subscriber_id != holder or earlier.end_reason != "sim_replaced":
            break
        start = earlier.started_at
    return start.date() <= since


def enumeration_suspected(distinct_numbers_for_id: int, distinct_ids_for_number: int, policy: CheckPolicy) -> bool:
    """Counts include the check being asked. More than the policy allows looks like enumeration."""
    return distinct_numbers_for_id > policy.max_numbers_per_id or distinct_ids_for_number > policy.max_ids_per_number


def require_daily_quota(used_today: int, party: RelyingParty, now: datetime) -> None:
    """The quota renews at the next midnight of ``now``'s time zone (UTC in the service)."""
    if used_today >= party.daily_quota:
        renews = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        raise RateLimited(
            f"the daily quota of {party.daily_quota} checks is used up",
            code="party.quota_exceeded",
            retry_after_seconds=math.ceil((renews - now).total_seconds()),
        )


def require_rate(used_this_minute: int, party: RelyingParty, now: datetime) -> None:
    if used_this_minute >= party.per_minute_limit:
        renews = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        raise RateLimited(
            f"more than {party.per_minute_limit} checks a minute",
            code="party.rate_limited",
            retry_after_seconds=math.ceil((renews - now).total_seconds()),
        )


def require_party_status_change(party: RelyingParty, to: PartyStatus) -> None:
    if party.status is to:
        raise Conflict(f"the party is {to.value} already", code="party.unchanged")
