"""Tests for identity-number validation, masking and encryption.

Every number here is synthetic (made up with a computed check digit) except the published
GB 11643 example; none is ever printed or logged.
"""

from __future__ import annotations

import base64
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.identity import (
    PROVINCE_CODES,
    REASON_TEXTS,
    IdentityCipher,
    InvalidCiphertext,
    InvalidIdNumber,
    check_character,
    mask_id_number,
    mask_phone,
    validate_id_number,
)

PUBLISHED_EXAMPLE = "11010519491231002X"  # the example in GB 11643-1999
TODAY = date(2026, 6, 1)
SECRET = "test-secret-not-for-production-0123456789"


def with_check(first_17: str) -> str:
    """A synthetic number: the check character computed as 2^(17-i) mod 11 weights (independent)."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first_17))
    return first_17 + "10X98765432"[total % 11]


def wrong_check(number: str) -> str:
    """The same number with a different, wrong check character."""
    return number[:17] + ("0" if number[17] != "0" else "1")


NANTONG_NUMBERS = [
    with_check("32060219850615123"),
    with_check("32060220000229004"),  # born on a leap day
    with_check("32068319720101567"),
    with_check("32060119000101001"),  # the earliest birth date accepted
]


# --- validation ---------------------------------------------------------------------------------


def test_published_example_is_valid() -> None:
    assert validate_id_number(PUBLISHED_EXAMPLE, today=TODAY) == PUBLISHED_EXAMPLE
    assert check_character(PUBLISHED_EXAMPLE[:17]) == "X"


@pytest.mark.parametrize("number", NANTONG_NUMBERS)
def test_synthetic_nantong_numbers_are_valid(number: str) -> None:
    assert validate_id_number(number, today=TODAY) == number
    assert check_character(number[:17]) == number[17]


def test_lower_case_x_and_whitespace_normalised() -> None:
    assert validate_id_number(" 11010519491231002x\n", today=TODAY) == PUBLISHED_EXAMPLE


def reason_of(value: str, today: date = TODAY) -> str:
    """The reason a value is rejected."""
    with pytest.raises(InvalidIdNumber) as caught:
        validate_id_number(value, today=today)
    assert isinstance(caught.value, ValueError)
    assert value.strip()[:6] not in str(caught.value) or not value.strip()
    return caught.value.reason


@pytest.mark.parametrize("number", [PUBLISHED_EXAMPLE, *NANTONG_NUMBERS])
def test_wrong_check_digit(number: str) -> None:
    assert reason_of(wrong_check(number)) == "check_digit"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "length"),
        ("3206021985061512", "length"),
        (with_check("32060219850615123") + "0", "length"),
        ("320602850615123", "length"),  # the old 15-digit form is not accepted
        ("32060219850615123Y", "format"),
        ("3206021985061512X3", "format"),
        ("32060219850615 123", "format"),
        ("３２０６０２198506151234", "format"),  # full-width digits
        (with_check("32060219990230123"), "birth_date"),  # 30 February
        (with_check("32060220010229123"), "birth_date"),  # 2001 was no leap year
        (with_check("32060219851315123"), "birth_date"),
        (with_check("32060219850600123"), "birth_date"),
        (with_check("32060218991231123"), "birth_date"),  # before 1900
        (with_check("32060220260602123"), "birth_date"),  # tomorrow
        (with_check("99060219850615123"), "address_code"),
        (with_check("00060219850615123"), "address_code"),
        (with_check("83060219850615123"), "address_code"),  # not in GB/T 2260
        (with_check("10010119850615123"), "address_code"),
        (with_check("99060219990230123"), "address_code"),  # the address is checked first
        (wrong_check(with_check("16060219850615123")), "address_code"),
    ],
)
def test_invalid_numbers(value: str, reason: str) -> None:
    assert reason_of(value) == reason


def test_born_today_is_valid() -> None:
    number = with_check("32060220260601123")
    assert validate_id_number(number, today=TODAY) == number


# GB/T 2260's province-level codes, written out from the standard rather than from the code.
GB_T_2260_PROVINCES = {
    11: "北京", 12: "天津", 13: "河北", 14: "山西", 15: "内蒙古",
    21: "辽宁", 22: "吉林", 23: "黑龙江",
    31: "上海", 32: "江苏", 33: "浙江", 34: "安徽", 35: "福建", 36: "江西", 37: "山东",
    41: "河南", 42: "湖北", 43: "湖南", 44: "广东", 45: "广西", 46: "海南",
    50: "重庆", 51: "四川", 52: "贵州", 53: "云南", 54: "西藏",
    61: "陕西", 62: "甘肃", 63: "青海", 64: "宁夏", 65: "新疆",
    71: "台湾", 81: "香港", 82: "澳门",
}  # fmt: skip


def test_province_codes_are_gb_t_2260() -> None:
    assert set(PROVINCE_CODES) == set(GB_T_2260_PROVINCES)
    assert len(PROVINCE_CODES) == 34


@pytest.mark.parametrize("province", range(100))
def test_every_two_digit_prefix(province: int) -> None:
    number = with_check(f"{province:02d}060219850615123")
    if province in GB_T_2260_PROVINCES:
        assert validate_id_number(number, today=TODAY) == number
    else:
        assert reason_of(number) == "address_code"


def test_every_reason_has_a_text_that_never_holds_a_number() -> None:
    assert set(REASON_TEXTS) == {"length", "format", "address_code", "birth_date", "check_digit"}
    for zh, en in REASON_TEXTS.values():
        assert zh and en


@given(
    province=st.sampled_from(sorted(GB_T_2260_PROVINCES)),
    county=st.integers(0, 9999),
    born_on=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    sequence=st.integers(0, 999),
)
def test_generated_numbers_validate_and_any_altered_digit_fails(
    province: int, county: int, born_on: date, sequence: int
) -> None:
    number = with_check(f"{province:02d}{county:04d}{born_on:%Y%m%d}{sequence:03d}")
    assert validate_id_number(number, today=TODAY) == number
    # MOD 11-2 catches every single-character change in the sequence or check part.
    for position in (14, 15, 16):
        digit = (int(number[position]) + 1) % 10
        altered = number[:position] + str(digit) + number[position + 1 :]
        with pytest.raises(InvalidIdNumber):
            validate_id_number(altered, today=TODAY)


# --- masking ------------------------------------------------------------------------------------


def test_mask_id_number() -> None:
    number = with_check("32060219850615123")
    masked = mask_id_number(number)
    assert masked == "3206" + "*" * 10 + number[-4:]
    assert len(masked) == 18
    assert mask_id_number(" 11010519491231002x ") == "1101**********002X"
    assert mask_id_number("12345678") == "********"
    assert mask_id_number("") == ""


def test_mask_phone() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone(" 13812345678 ") == "138****5678"
    assert mask_phone("0513-8512345") == "051*****2345"
    assert mask_phone("1234567") == "*******"


# --- encryption ---------------------------------------------------------------------------------


def test_round_trip() -> None:
    cipher = IdentityCipher(SECRET)
    for number in [PUBLISHED_EXAMPLE, *NANTONG_NUMBERS]:
        token = cipher.encrypt(number)
        assert token.startswith("v1:")
        assert number not in token
        assert cipher.decrypt(token) == number
    assert cipher.decrypt(cipher.encrypt("11010519491231002x")) == PUBLISHED_EXAMPLE


def test_nonce_is_random() -> None:
    cipher = IdentityCipher(SECRET)
    tokens = {cipher.encrypt(PUBLISHED_EXAMPLE) for _ in range(50)}
    assert len(tokens) == 50
    nonces = {base64.urlsafe_b64decode(t[3:])[:12] for t in tokens}
    assert len(nonces) == 50


def test_other_key_cannot_decrypt() -> None:
    token = IdentityCipher(SECRET).encrypt(PUBLISHED_EXAMPLE)
    with pytest.raises(InvalidCiphertext):
        IdentityCipher(SECRET + "x").decrypt(token)


def tamper(token: str, index: int) -> str:
    """The token with one bit of its raw bytes flipped."""
    raw = bytearray(base64.urlsafe_b64decode(token[3:]))
    raw[index] ^= 0x01
    return "v1:" + base64.urlsafe_b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("index", [0, 11, 12, 20, -1])
def test_tampered_token_rejected(index: int) -> None:
    cipher = IdentityCipher(SECRET)
    token = cipher.encrypt(PUBLISHED_EXAMPLE)
    with pytest.raises(InvalidCiphertext, match="altered"):
        cipher.decrypt(tamper(token, index))


@pytest.mark.parametrize(
    "token",
    ["", "v1:", "v2:AAAA", "v1", "v1:not base64!", "v1:AAAA", "v1:é", "V1:AAAAAAAAAAAAAAAAAAAA"],
)
def test_malformed_tokens_rejected(token: str) -> None:
    with pytest.raises(InvalidCiphertext):
        IdentityCipher(SECRET).decrypt(token)


def test_search_hash_is_stable_normalised_and_keyed() -> None:
    cipher = IdentityCipher(SECRET)
    digest = cipher.search_hash(PUBLISHED_EXAMPLE)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert IdentityCipher(SECRET).search_hash(PUBLISHED_EXAMPLE) == digest
    assert cipher.search_hash(" 11010519491231002x") == digest
    assert IdentityCipher(SECRET + "x").search_hash(PUBLISHED_EXAMPLE) != digest
    assert cipher.search_hash(NANTONG_NUMBERS[0]) != digest


def test_key_derivation_is_pinned() -> None:
    # Stored hashes and tokens depend on the HKDF labels: changing them orphans every stored row.
    cipher = IdentityCipher(SECRET)
    assert cipher.search_hash(PUBLISHED_EXAMPLE) == (
        "94cc846b2e1d1ba417e4326ff0d5f92a0d677e6ed13b70671d1434c2e2140f82"
    )
    token = "v1:hmTgHwRvPqr3CFNzm248_zJvJWsxkbet6-QaEl7jQltzsl8NbHQ5VUsz0FVoLA=="
    assert cipher.decrypt(token) == PUBLISHED_EXAMPLE


def test_short_secret_refused_and_repr_hides_it() -> None:
    with pytest.raises(ValueError, match="at least"):
        IdentityCipher("short")
    assert SECRET not in repr(IdentityCipher(SECRET))
