"""Types shared by every schema: UTC times, coordinates, bounded strings, pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

T = TypeVar("T")


# Times a field phone or console can mean; anything else is a typo or an attack, and near the
# ends of datetime's range the conversion to UTC would overflow.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200


def _to_utc(value: datetime) -> datetime:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"time must lie between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value.astimezone(UTC)


def format_utc(value: datetime) -> str:
    """RFC 3339 in UTC with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Input: RFC 3339 with an offset (a naive time is a 422), normalised to UTC.
UtcInput = Annotated[AwareDatetime, AfterValidator(_to_utc)]
# Output: always UTC with Z.
UtcOutput = Annotated[datetime, PlainSerializer(format_utc, return_type=str, when_used="json")]

Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
ShortText = Annotated[str, Field(max_length=200)]
LongText = Annotated[str, Field(max_length=4000)]


class StrictInput(BaseModel):
    """Base of every request body: unknown fields are refused, not silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    """Base of every response body."""

    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `?cursor=` for the next."""

    items: list[T]
    next_cursor: str | None = None
