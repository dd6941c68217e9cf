"""Sample documents and a small region directory for the identity unit tests (no package data read)."""

from __future__ import annotations

from datetime import date

from realname.domain.identity import RegionDirectory
from realname.domain.identity.icao import SPECIMEN_COUNTRY_CODES
from realname.domain.identity.mrz import check_digit
from realname.domain.identity.regions import Region, RegionStatus
from realname.domain.identity.resident_id import mod11_2_check_char

TODAY = date(2026, 6, 15)
MIN_AGE = 16

REGIONS = RegionDirectory.of(
    [
        Region("110000", "北京市", RegionStatus.CURRENT),
        Region("110105", "朝阳区", RegionStatus.CURRENT),
        Region("110224", "大兴县", RegionStatus.RETIRED),
        Region("440000", "广东省", RegionStatus.CURRENT),
        Region("440300", "深圳市", RegionStatus.CURRENT),
        Region("440305", "南山区", RegionStatus.CURRENT),
        Region("710000", "台湾省", RegionStatus.CURRENT),
    ]
)
COUNTY_CODES = ("110105", "110224", "440305")


def resident_number(region: str = "110105", birth: str = "19800101", sequence: str = "123") -> str:
    """An 18-character number with the right MOD 11-2 check character."""
    body = region + birth + sequence
    return body + mod11_2_check_char(body)


def foreign_permanent_number(
    province: str = "11", nationality: str = "840", birth: str = "19850310", sequence: str = "021"
) -> str:
    body = "9" + province + nationality + birth + sequence
    return body + mod11_2_check_char(body)


# ICAO Doc 9303 specimens (part 4 TD3 passport, part 5 TD1 card, part 6 TD2 card): valid before 2012-04-15.
SPECIMEN_TODAY = date(2010, 1, 1)
SPECIMEN_CODES = SPECIMEN_COUNTRY_CODES
TD3_SPECIMEN = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
)
TD1_SPECIMEN = (
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
)
TD2_SPECIMEN = (
    "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
    "D231458907UTO7408122F1204159<<<<<<<6",
)


def td3(
    *,
    document_number: str = "E12345678",
    nationality: str = "CHN",
    issuing_state: str = "CHN",
    birth: str = "900115",
    sex: str = "M",
    expiry: str = "300101",
    personal_number: str = "<<<<<<<<<<<<<<",
    names: str = "ZHANG<<SAN",
) -> str:
    """A TD3 zone with every check digit right, for the given (padded) fields."""
    line1 = ("P<" + issuing_state + names).ljust(44, "<")
    number = document_number.ljust(9, "<")
    personal = personal_number.ljust(14, "<")
    upper = number + str(check_digit(number)) + nationality + birth + str(check_digit(birth))
    lower = sex + expiry + str(check_digit(expiry)) + personal + str(check_digit(personal))
    composite = upper[:10] + upper[13:20] + lower[1:]
    line2 = upper + lower + str(check_digit(composite))
    return line1 + "\n" + line2
