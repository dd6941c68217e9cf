"""HmacBlindIndexer: deterministic, keyed, separated per purpose, and a valid domain BlindIndex."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from realname.adapters.crypto.blind_index import HmacBlindIndexer
from realname.domain.subscribers import BlindIndex

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
ID_NUMBER = "11010519491231002X"


def test_same_value_same_key_same_index() -> None:
    assert HmacBlindIndexer(KEY).index(ID_NUMBER) == HmacBlindIndexer(KEY).index(ID_NUMBER)


def test_index_is_64_lower_hex_and_a_valid_blind_index() -> None:
    value = HmacBlindIndexer(KEY).index(ID_NUMBER)
    assert BlindIndex(value).value == value


def test_index_is_not_a_plain_hash_of_the_value() -> None:
    value = HmacBlindIndexer(KEY).index(ID_NUMBER)
    assert value != hashlib.sha256(ID_NUMBER.encode()).hexdigest()
    assert value != hmac.new(KEY, ID_NUMBER.encode(), hashlib.sha256).hexdigest()  # domain-separated
    assert ID_NUMBER not in value


def test_another_key_gives_another_index() -> None:
    assert HmacBlindIndexer(KEY).index(ID_NUMBER) != HmacBlindIndexer(OTHER_KEY).index(ID_NUMBER)


def test_another_purpose_gives_another_index() -> None:
    by_id = HmacBlindIndexer(KEY)
    by_msisdn = by_id.for_purpose("msisdn")
    assert by_msisdn.purpose == "msisdn"
    assert by_id.index("13800138000") != by_msisdn.index("13800138000")


def test_different_values_give_different_indexes() -> None:
    indexer = HmacBlindIndexer(KEY)
    values = [f"1101051949123100{n:02d}" for n in range(100)]
    assert len({indexer.index(v) for v in values}) == len(values)


def test_repr_shows_no_key() -> None:
    assert KEY.hex() not in repr(HmacBlindIndexer(KEY))


@pytest.mark.parametrize(("key", "purpose"), [(b"short", "id_number"), (KEY, ""), (KEY, "Has Spaces|pipe")])
def test_weak_key_or_bad_purpose_is_refused(key: bytes, purpose: str) -> None:
    with pytest.raises(ValueError):
        HmacBlindIndexer(key, purpose)
