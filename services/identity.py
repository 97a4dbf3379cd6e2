"""PRC resident identity numbers (居民身份证号码): validation, masking and encryption at rest.

Never log an identity number, even a test one; log `mask_id_number(value)` if anything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from datetime import date
from typing import Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from grassroots import clock

InvalidReason = Literal["length", "format", "address_code", "birth_date", "check_digit"]

ID_NUMBER_LENGTH: Final = 18
EARLIEST_BIRTH_DATE: Final = date(1900, 1, 1)
MIN_SECRET_LENGTH: Final = 16

# ISO 7064 MOD 11-2, as GB 11643-1999 specifies it for the 18th character.
_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS: Final = "10X98765432"
_ID_FORMAT = re.compile(r"[0-9]{17}[0-9X]")
# The province-level codes of GB/T 2260 (the first two digits of the address code): 11-15 North,
# 21-23 North-east, 31-37 East, 41-46 Central-south, 50-54 South-west, 61-65 North-west, 71 Taiwan,
# 81 Hong Kong, 82 Macao. Only the province is checked: numbers keep the county code they were
# issued with for life, and GB/T 2260 retires and renumbers counties (and made 50 out of 51 in
# 1997), so a county list would refuse real people.
PROVINCE_CODES: Final = frozenset(
    [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55)]
    + [*range(61, 66), 71, 81, 82]
)
# What each reason names, for people: (zh, en). Never with the number in it.
REASON_TEXTS: Final[dict[InvalidReason, tuple[str, str]]] = {
    "length": ("应为 18 位", "it must have 18 characters"),
    "format": ("应为 17 位数字加一位数字或 X", "it must be 17 digits and a digit or X"),
    "address_code": ("地址码的省级代码不存在", "the address code names no province"),
    "birth_date": (
        "出生日期无效（须为 1900 年至今的真实日期）",
        "the birth date is not a real date from 1900 to today",
    ),
    "check_digit": ("校验码不符", "the check digit does not match"),
}

_TOKEN_VERSION: Final = "v1"
_NONCE_BYTES: Final = 12
_ENCRYPTION_INFO: Final = b"grassroots/identity-number/aes-256-gcm/v1"
_SEARCH_HASH_INFO: Final = b"grassroots/identity-number/hmac-sha256/v1"
_ASSOCIATED_DATA: Final = b"grassroots/identity-number/v1"


class InvalidIdNumber(ValueError):
    """An identity number that is not valid; `reason` says which check failed."""

    def __init__(self, reason: InvalidReason) -> None:
        """Keep the reason; the message never contains the number itself."""
        super().__init__(f"invalid identity number: {reason}")
        self.reason: InvalidReason = reason


class InvalidCiphertext(ValueError):
    """A token that was not made by this cipher with this key, or was altered."""


def normalise_id_number(value: str) -> str:
    """The number without surrounding whitespace and with an upper-case X."""
    return value.strip().upper()


def check_character(first_17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first_17) != ID_NUMBER_LENGTH - 1 or not first_17.isascii() or not first_17.isdigit():
        raise ValueError("expected 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(first_17, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def validate_id_number(value: str, /, *, today: date | None = None) -> str:
    """The normalised number; InvalidIdNumber (length, format, address_code, birth_date,
    check_digit) otherwise.

    The address code (characters 1-6) must lie in a GB/T 2260 province; the birth date
    (characters 7-14) must be a real date from 1900-01-01 to `today` (default: the system's
    current date); the 18th character is the ISO 7064 MOD 11-2 check. Usable as a pydantic
    `AfterValidator`.
    """
    number = normalise_id_number(value)
    if len(number) != ID_NUMBER_LENGTH:
        raise InvalidIdNumber("length")
    if _ID_FORMAT.fullmatch(number) is None:
        raise InvalidIdNumber("format")
    if int(number[:2]) not in PROVINCE_CODES:
        raise InvalidIdNumber("address_code")
    try:
        born_on = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("birth_date") from None
    if not EARLIEST_BIRTH_DATE <= born_on <= (today or clock.today()):
        raise InvalidIdNumber("birth_date")
    if check_character(number[:17]) != number[17]:
        raise InvalidIdNumber("check_digit")
    return number


def _mask(text: str, *, keep_start: int, keep_end: int) -> str:
    """Stars in place of all but the first and last characters; all stars when too short."""
    if len(text) <= keep_start + keep_end:
        return "*" * len(text)
    hidden = len(text) - keep_start - keep_end
    return text[:keep_start] + "*" * hidden + text[len(text) - keep_end :]


def mask_id_number(value: str) -> str:
    """The number with all but its first 4 and last 4 characters starred: 3206**********123X."""
    return _mask(normalise_id_number(value), keep_start=4, keep_end=4)


def mask_phone(value: str) -> str:
    """A phone number with all but its first 3 and last 4 characters starred: 138****5678."""
    return _mask(value.strip(), keep_start=3, keep_end=4)


def _derive_key(secret: bytes, info: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from the application secret with HKDF-SHA256."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


class IdentityCipher:
    """Encrypts identity numbers at rest and makes keyed hashes for exact-match lookup."""

    def __init__(self, secret: str) -> None:
        """Derive separate encryption and hashing keys from the application secret."""
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"the secret must be at least {MIN_SECRET_LENGTH} characters")
        secret_bytes = secret.encode()
        self._aead = AESGCM(_derive_key(secret_bytes, _ENCRYPTION_INFO))
        self._hash_key = _derive_key(secret_bytes, _SEARCH_HASH_INFO)

    def __repr__(self) -> str:
        """A representation that shows no key material."""
        return "IdentityCipher(<secret>)"

    def encrypt(self, value: str) -> str:
        """AES-256-GCM of the normalised number as "v1:<base64url(nonce + ciphertext)>"."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, normalise_id_number(value).encode(), _ASSOCIATED_DATA)
        return f"{_TOKEN_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, token: str) -> str:
        """The number inside a token from `encrypt`; InvalidCiphertext if altered or foreign."""
        version, separator, payload = token.partition(":")
        if version != _TOKEN_VERSION or not separator:
            raise InvalidCiphertext("unknown token version")
        try:
            raw = base64.b64decode(payload.encode("ascii"), altchars=b"-_", validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise InvalidCiphertext("token is not base64") from None
        if len(raw) <= _NONCE_BYTES:
            raise InvalidCiphertext("token is too short")
        try:
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _ASSOCIATED_DATA)
        except InvalidTag:
            raise InvalidCiphertext("token was altered or made with another key") from None
        return plain.decode()

    def search_hash(self, value: str) -> str:
        """HMAC-SHA256 (hex) of the normalised number, for lookups without decrypting."""
        digest = hmac.new(self._hash_key, normalise_id_number(value).encode(), hashlib.sha256)
        return digest.hexdigest()
