"""Types shared by every schema: UTC times, coordinates, bounded strings, pages."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Final, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)
from pydantic_core import PydanticCustomError

from services.text import is_clean_text

T = TypeVar("T")


# Times a field phone or console can mean; anything else is a typo or an attack, and near the
# ends of datetime's range the conversion to UTC (or a month's arithmetic) would overflow.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
EARLIEST_DATE: Final = date(EARLIEST_YEAR, 1, 1)
LATEST_DATE: Final = date(LATEST_YEAR, 12, 31)
# Integers that reach SQL (int64) or geometry (a float keeps every integer up to 2**53 exactly).
LARGEST_INT: Final = 2**53

# RFC 3339 date-time with an offset; pydantic alone would also take 1700000000 (Unix seconds),
# and the contract promises strings. The pattern alone is shared with the batch of track
# points, which checks it inside pydantic-core (api/routers/patrol/schemas.py).
RFC3339_PATTERN: Final = (
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
_RFC3339: Final = re.compile(RFC3339_PATTERN)
_TIME_RANGE: Final = f"must lie between the years {EARLIEST_YEAR} and {LATEST_YEAR}"
_DATE_RANGE: Final = f"date must lie between {EARLIEST_DATE} and {LATEST_DATE}"
_INT_RANGE: Final = "integer must lie within ±2^53"
_TEXT: Final = "text must not hold NUL or a lone surrogate"
# Codes of the generic input rules; a 422 made by one of them carries it as its problem `code`.
INPUT_RULE_CODES: Final = frozenset(
    {
        "invalid_time",
        "time_out_of_range",
        "invalid_date",
        "date_out_of_range",
        "invalid_month",
        "integer_out_of_range",
        "invalid_text",
    }
)
_ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH: Final = re.compile(r"^\d{4}-\d{2}$")


def _rfc3339_text(value: Any) -> Any:
    if isinstance(value, datetime):  # built in code, not sent
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise PydanticCustomError(
            "invalid_time",
            "time must be an RFC 3339 string with an offset, e.g. 2026-11-02T08:00:00+08:00",
        )
    return value


def _to_utc(value: datetime) -> datetime:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise PydanticCustomError("time_out_of_range", _TIME_RANGE)
    return value.astimezone(UTC)


def _iso_date_text(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise PydanticCustomError("invalid_date", "date must be a string YYYY-MM-DD")
    return value


def _date_in_range(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise PydanticCustomError("date_out_of_range", _DATE_RANGE)
    return value


def _month_in_range(value: str) -> str:
    if not _MONTH.match(value) or not 1 <= int(value[5:]) <= 12:
        raise PydanticCustomError("invalid_month", "month must be YYYY-MM")
    if not EARLIEST_YEAR <= int(value[:4]) <= LATEST_YEAR:
        raise PydanticCustomError("date_out_of_range", _TIME_RANGE)
    return value


def _clean_text(value: str) -> str:
    if not is_clean_text(value):
        raise PydanticCustomError("invalid_text", _TEXT)
    return value


def format_utc(value: datetime) -> str:
    """RFC 3339 in UTC with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Input: an RFC 3339 string with an offset (a naive time or a number is a 422), normalised to UTC.
UtcInput = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(_to_utc)]
# Output: always UTC with Z.
UtcOutput = Annotated[datetime, PlainSerializer(format_utc, return_type=str, when_used="json")]
# Input: a calendar date YYYY-MM-DD within 1900..2200 (a number is a 422, not a Unix day).
DateInput = Annotated[date, BeforeValidator(_iso_date_text), AfterValidator(_date_in_range)]
# Input: a calendar month YYYY-MM within 1900..2200.
MonthInput = Annotated[str, AfterValidator(_month_in_range)]
# Input: an integer where it reaches SQL or geometry.
BoundedInt = Annotated[int, Field(ge=-LARGEST_INT, le=LARGEST_INT)]
# Input: text that a database can store (no NUL, no lone surrogate).
CleanText = Annotated[str, AfterValidator(_clean_text)]

Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
ShortText = Annotated[str, Field(max_length=200)]
LongText = Annotated[str, Field(max_length=4000)]


def _unfit(value: Any, depth: int = 0) -> tuple[str, str] | None:
    """Why a value (a field, or anything nested in one) cannot be stored, as (code, message)."""
    if depth > 64:  # request bodies are size-limited; this only bounds the walk
        return None
    if isinstance(value, str):
        return None if is_clean_text(value) else ("invalid_text", _TEXT)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if abs(value) <= LARGEST_INT else ("integer_out_of_range", _INT_RANGE)
    if isinstance(value, datetime):
        ok = EARLIEST_YEAR <= value.year <= LATEST_YEAR
        return None if ok else ("time_out_of_range", _TIME_RANGE)
    if isinstance(value, date):
        return None if EARLIEST_DATE <= value <= LATEST_DATE else ("date_out_of_range", _DATE_RANGE)
    items: list[Any] = []
    if isinstance(value, dict):
        for key, item in value.items():
            items += [key, item]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    for item in items:
        reason = _unfit(item, depth + 1)
        if reason:
            return reason
    return None


class StrictInput(BaseModel):
    """Base of every request body: unknown fields are refused, not silently ignored.

    Every field, whatever its type and however deep (GeoJSON included), also follows the
    generic input rules: text without NUL or lone surrogates, integers within ±2^53, dates and
    times within 1900..2200. One rule here, so no schema can forget it.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        if isinstance(value, BaseModel):  # validated by its own class
            return value
        reason = _unfit(value)
        if reason:
            raise PydanticCustomError(*reason)
        return value


class Output(BaseModel):
    """Base of every response body."""

    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `?cursor=` for the next."""

    items: list[T]
    next_cursor: str | None = None
