"""RFC 5545 recurrence rules for reminder campaigns, on python-dateutil.

Occurrences are computed in the local wall time of the deployment's time zone: a reminder "every
month at 09:00" stays at 09:00 local across DST changes. Instants go in and come out as aware
datetimes; results are in UTC.

Choices beyond RFC 5545:

- Only rules at most once a day: FREQ=DAILY, WEEKLY, MONTHLY or YEARLY, and at most one value in
  each of BYHOUR, BYMINUTE and BYSECOND; COUNT at most 1000. A rule that can never occur is refused.
- `first_at` is always the first occurrence (RFC 5545 counts DTSTART as the first instance), and
  counts towards COUNT, even when it does not match the rule.
- Month ends: when a MONTHLY or YEARLY rule takes its day of the month from `first_at` (no
  BYMONTHDAY, BYYEARDAY, BYWEEKNO or BYDAY) and that day is 29, 30 or 31, each occurrence falls on
  that day or on the month's last day when the month is shorter (31 Jan -> 28/29 Feb -> 31 Mar
  -> 30 Apr). Plain RFC 5545 (and dateutil) would skip the shorter months. An explicit
  BYMONTHDAY=31 keeps the RFC meaning; BYMONTHDAY=-1 means the last day of every month.
- UNTIL in the rule may be a date (inclusive, local) or a UTC date-time (YYYYMMDDTHHMMSSZ); the
  `until` argument applies as well, and both are inclusive.
- A local time that does not exist (in a spring-forward gap) is taken with the offset in force
  before the change, i.e. one hour later on the wall clock; an ambiguous one is the first of
  the two.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from dateutil import rrule as _rr  # type: ignore[import-untyped,unused-ignore]

MAX_COUNT: Final = 1000
MAX_INTERVAL: Final = 1000
MAX_RULE_LENGTH: Final = 500

_FREQUENCIES: Final = {
    "DAILY": _rr.DAILY,
    "WEEKLY": _rr.WEEKLY,
    "MONTHLY": _rr.MONTHLY,
    "YEARLY": _rr.YEARLY,
}
_TOO_FREQUENT: Final = frozenset({"HOURLY", "MINUTELY", "SECONDLY"})
_WEEKDAYS: Final = {name: _rr.weekdays[i] for i, name in enumerate("MO TU WE TH FR SA SU".split())}
_PARTS: Final = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYSECOND",
    "BYMINUTE",
    "BYHOUR",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
)
_NUMBER = re.compile(r"[+-]?[0-9]{1,4}", re.ASCII)
_BYDAY = re.compile(r"([+-]?[0-9]{1,2})?(MO|TU|WE|TH|FR|SA|SU)", re.ASCII)
_UNTIL_DATE = re.compile(r"[0-9]{8}", re.ASCII)
_UNTIL_UTC = re.compile(r"[0-9]{8}T[0-9]{6}Z", re.ASCII)
# Checking that a rule can occur at all: dateutil only stops looking at year 9999, so look from
# shortly before it, which bounds the work to about 30 years of candidates.
_PROBE_START: Final = datetime(9970, 1, 1)  # naive on purpose: dateutil works in wall time
# (name, low, high, zero allowed, negative allowed, single value only)
_NUMERIC_LISTS: Final = {
    "BYSECOND": (0, 60, True, False, True),
    "BYMINUTE": (0, 59, True, False, True),
    "BYHOUR": (0, 23, True, False, True),
    "BYMONTHDAY": (1, 31, False, True, False),
    "BYYEARDAY": (1, 366, False, True, False),
    "BYWEEKNO": (1, 53, False, True, False),
    "BYMONTH": (1, 12, False, False, False),
    "BYSETPOS": (1, 366, False, True, False),
}


class InvalidRecurrence(ValueError):
    """A recurrence rule that is malformed or not allowed here."""


@dataclass(frozen=True)
class _Recurrence:
    """A parsed rule: dateutil arguments plus what dateutil is not asked to handle."""

    text: str
    frequency: str
    arguments: dict[str, Any]
    count: int | None
    until_at: datetime | None
    until_on: date | None
    day_from_start: bool  # the day of the month comes from DTSTART (the month-end case)


def _numbers(name: str, value: str) -> tuple[int, ...]:
    """The comma-separated integers of a BYxxx part, range-checked."""
    low, high, zero_ok, negative_ok, single = _NUMERIC_LISTS[name]
    items = value.split(",")
    if single and len(items) > 1:
        raise InvalidRecurrence(f"{name} takes one value here (at most one reminder a day)")
    numbers: list[int] = []
    for item in items:
        if _NUMBER.fullmatch(item) is None:
            raise InvalidRecurrence(f"{name}: {item!r} is not a number")
        number = int(item)
        magnitude = abs(number)
        if (number < 0 and not negative_ok) or not (
            low <= magnitude <= high or (zero_ok and number == 0)
        ):
            raise InvalidRecurrence(f"{name}: {item} is out of range")
        numbers.append(number)
    return tuple(numbers)


def _positive(name: str, value: str, maximum: int) -> int:
    """A positive integer part such as COUNT or INTERVAL."""
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= maximum:
        raise InvalidRecurrence(f"{name} must be a whole number from 1 to {maximum}")
    return int(value)


def _weekdays(value: str, frequency: str) -> tuple[Any, ...]:
    """dateutil weekdays for BYDAY; ordinals (2MO, -1FR) only in MONTHLY and YEARLY rules."""
    weekdays: list[Any] = []
    for item in value.split(","):
        match = _BYDAY.fullmatch(item)
        if match is None:
            raise InvalidRecurrence(f"BYDAY: {item!r} is not a weekday")
        ordinal_text, name = match.groups()
        if ordinal_text is None:
            weekdays.append(_WEEKDAYS[name])
            continue
        ordinal = int(ordinal_text)
        limit = {"MONTHLY": 5, "YEARLY": 53}.get(frequency)
        if limit is None:
            raise InvalidRecurrence(f"BYDAY: {item} needs FREQ=MONTHLY or FREQ=YEARLY")
        if ordinal == 0 or abs(ordinal) > limit:
            raise InvalidRecurrence(f"BYDAY: {item} is out of range")
        weekdays.append(_WEEKDAYS[name](ordinal))
    return tuple(weekdays)


def _until(value: str) -> tuple[datetime | None, date | None]:
    """UNTIL as a UTC instant or as an inclusive local date."""
    try:
        if _UNTIL_UTC.fullmatch(value):
            return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC), None
        if _UNTIL_DATE.fullmatch(value):
            return None, datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        pass
    raise InvalidRecurrence("UNTIL must be YYYYMMDD or YYYYMMDDTHHMMSSZ (UTC)")


def _split(text: str) -> dict[str, str]:
    """The NAME=VALUE parts of a rule, each name at most once."""
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, separator, value = part.partition("=")
        if not separator or not value:
            raise InvalidRecurrence(f"{part!r} is not NAME=VALUE")
        if name not in _PARTS:
            raise InvalidRecurrence(f"unknown rule part {name!r}")
        if name in parts:
            raise InvalidRecurrence(f"{name} appears twice")
        parts[name] = value
    return parts


def _parse(rule: str) -> _Recurrence:
    """Parse and check a rule; InvalidRecurrence with a message saying what is wrong."""
    text = rule.strip().upper()
    if text.startswith("RRULE:"):
        text = text.removeprefix("RRULE:").strip()
    if not text:
        raise InvalidRecurrence("the rule is empty")
    if len(text) > MAX_RULE_LENGTH:
        raise InvalidRecurrence(f"the rule is longer than {MAX_RULE_LENGTH} characters")
    parts = _split(text)
    frequency = parts.get("FREQ")
    if frequency is None:
        raise InvalidRecurrence("FREQ is required")
    if frequency in _TOO_FREQUENT:
        raise InvalidRecurrence(f"FREQ={frequency} is not allowed: at most one reminder a day")
    if frequency not in _FREQUENCIES:
        raise InvalidRecurrence(f"unknown FREQ {frequency!r}")
    arguments: dict[str, Any] = {"freq": _FREQUENCIES[frequency]}
    if "INTERVAL" in parts:
        arguments["interval"] = _positive("INTERVAL", parts["INTERVAL"], MAX_INTERVAL)
    count = _positive("COUNT", parts["COUNT"], MAX_COUNT) if "COUNT" in parts else None
    until_at, until_on = _until(parts["UNTIL"]) if "UNTIL" in parts else (None, None)
    if count is not None and "UNTIL" in parts:
        raise InvalidRecurrence("COUNT and UNTIL cannot both be given")
    if "WKST" in parts:
        if parts["WKST"] not in _WEEKDAYS:
            raise InvalidRecurrence(f"WKST: {parts['WKST']!r} is not a weekday")
        arguments["wkst"] = _WEEKDAYS[parts["WKST"]]
    if "BYDAY" in parts:
        arguments["byweekday"] = _weekdays(parts["BYDAY"], frequency)
    for name in _NUMERIC_LISTS:
        if name in parts:
            arguments[name.lower()] = _numbers(name, parts[name])
    if "BYMONTHDAY" in parts and frequency == "WEEKLY":
        raise InvalidRecurrence("BYMONTHDAY cannot be used with FREQ=WEEKLY")
    if "BYYEARDAY" in parts and frequency != "YEARLY":
        raise InvalidRecurrence("BYYEARDAY needs FREQ=YEARLY")
    if "BYWEEKNO" in parts and frequency != "YEARLY":
        raise InvalidRecurrence("BYWEEKNO needs FREQ=YEARLY")
    day_parts = {"BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYDAY"}
    other_by_parts = {name for name in parts if name.startswith("BY") and name != "BYSETPOS"}
    if "BYSETPOS" in parts and not other_by_parts:
        raise InvalidRecurrence("BYSETPOS needs another BYxxx part")
    day_from_start = frequency in ("MONTHLY", "YEARLY") and not day_parts & set(parts)
    recurrence = _Recurrence(
        text=text,
        frequency=frequency,
        arguments=arguments,
        count=count,
        until_at=until_at,
        until_on=until_on,
        day_from_start=day_from_start,
    )
    probe_arguments = {**arguments, "interval": 1}
    if next(iter(_rr.rrule(dtstart=_PROBE_START, **probe_arguments)), None) is None:
        raise InvalidRecurrence("the rule never occurs")
    return recurrence


def validate_rrule(rule: str) -> str:
    """The rule normalised (upper case, no 'RRULE:' prefix); InvalidRecurrence when refused."""
    return _parse(rule).text


def _require_aware(name: str, value: datetime | None) -> None:
    """Refuse a naive datetime where an instant is meant."""
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")


def _to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A naive local wall time in `tz` as an aware UTC instant."""
    return local.replace(tzinfo=tz).astimezone(UTC)


def _occurrences(
    *,
    first_at: datetime,
    recurrence: _Recurrence | None,
    until: datetime | None,
    tz: ZoneInfo,
    from_local: datetime,
) -> Iterator[datetime]:
    """Occurrences in order as UTC instants, from about `from_local` (naive local) onwards."""
    first_local = first_at.astimezone(tz).replace(tzinfo=None)
    first_utc = first_at.astimezone(UTC)

    def in_bounds(occurrence_utc: datetime, occurrence_local: datetime) -> bool:
        if until is not None and occurrence_utc > until:
            return False
        if recurrence is None:
            return True
        if recurrence.until_at is not None and occurrence_utc > recurrence.until_at:
            return False
        return recurrence.until_on is None or occurrence_local.date() <= recurrence.until_on

    if not in_bounds(first_utc, first_local):
        return
    yield first_utc
    yielded = 1
    if recurrence is None:
        return
    start_local = first_local.replace(microsecond=0)
    clamp_day: int | None = None
    if recurrence.day_from_start and start_local.day > 28:
        # Expand on the first of each month, then move to the wanted day or the month's end.
        clamp_day = start_local.day
        start_local = start_local.replace(day=1)
    rule = _rr.rrule(dtstart=start_local, **recurrence.arguments)
    if recurrence.count is not None:
        candidates: Iterator[datetime] = iter(rule)  # COUNT counts from the start
    else:
        candidates = rule.xafter(max(from_local - timedelta(days=32), start_local), inc=True)
    for candidate in candidates:
        local = candidate.replace(microsecond=first_local.microsecond)
        if clamp_day is not None:
            last_day = calendar.monthrange(local.year, local.month)[1]
            local = local.replace(day=min(clamp_day, last_day))
        if local <= first_local:
            continue  # first_at itself is already counted
        if recurrence.count is not None and yielded >= recurrence.count:
            return
        occurrence_utc = _to_utc(local, tz)
        if not in_bounds(occurrence_utc, local):
            return
        yielded += 1
        yield occurrence_utc


def _prepare(first_at: datetime, rrule: str | None, until: datetime | None) -> _Recurrence | None:
    """Check the arguments shared by the public functions and parse the rule."""
    _require_aware("first_at", first_at)
    _require_aware("until", until)
    return None if rrule is None else _parse(rrule)


def next_occurrence(
    *,
    first_at: datetime,
    rrule: str | None,
    until: datetime | None,
    after: datetime,
    tz: ZoneInfo,
) -> datetime | None:
    """The first occurrence strictly after `after` (UTC), or None when the series is exhausted.

    Without a rule the only occurrence is `first_at`. `until` is inclusive.
    """
    recurrence = _prepare(first_at, rrule, until)
    _require_aware("after", after)
    from_local = after.astimezone(tz).replace(tzinfo=None)
    for occurrence in _occurrences(
        first_at=first_at, recurrence=recurrence, until=until, tz=tz, from_local=from_local
    ):
        if occurrence > after:
            return occurrence
    return None


def occurrences_between(
    *,
    first_at: datetime,
    rrule: str | None,
    until: datetime | None,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    limit: int = MAX_COUNT,
) -> list[datetime]:
    """Occurrences in [start, end) as UTC instants, in order, at most `limit` of them."""
    recurrence = _prepare(first_at, rrule, until)
    _require_aware("start", start)
    _require_aware("end", end)
    if limit < 1:
        return []
    found: list[datetime] = []
    from_local = start.astimezone(tz).replace(tzinfo=None)
    for occurrence in _occurrences(
        first_at=first_at, recurrence=recurrence, until=until, tz=tz, from_local=from_local
    ):
        if occurrence >= end:
            break
        if occurrence >= start:
            found.append(occurrence)
            if len(found) >= limit:
                break
    return found
