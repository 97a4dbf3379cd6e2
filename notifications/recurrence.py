"""RFC 5545 recurrence rules for reminder campaigns, on python-dateutil (the reference).

Occurrences are computed in the local wall time of the deployment's time zone: a reminder "every
month at 09:00" stays at 09:00 local across DST changes. Instants go in and come out as aware
datetimes; results are in UTC. A rule gives the same occurrences as `dateutil.rrule` with the same
DTSTART, so a phone's calendar library and the server agree:

- A date that does not exist is skipped, never clamped (RFC 5545 3.3.10): FREQ=MONTHLY from
  31 January falls on 31 March, 31 May, ...; FREQ=YEARLY from 29 February only in leap years. The
  last day of every month is written BYMONTHDAY=-1. `skipped_periods` names the months (or years)
  a rule's frequency steps through without an occurrence, so a scheduler sees what it does.
- A local time that does not exist (in a spring-forward gap) is taken with the UTC offset in force
  before the gap, one hour later on the wall clock; an ambiguous one is the first of the two.
  RFC 5545 3.3.10 says both "such recurrence instances MUST be ignored" (of invalid dates and
  nonexistent times) and, of the computed local start time of an instance that does not exist,
  that it "is interpreted ... as specified in Section 3.3.5", which is this rule; the second is
  the specific one, and it is what dateutil with a zoneinfo DTSTART (and the phones' calendars)
  do, so reminders in a DST zone still fire on the day of the change.
- `first_at` is DTSTART: always the first occurrence, counted towards COUNT even when it does not
  match the rule (RFC 5545 3.8.5.3: DTSTART "always counts as the first occurrence").
- UNTIL must be a UTC date-time (YYYYMMDDTHHMMSSZ): DTSTART is a date-time with an offset, and
  RFC 5545 3.3.10 requires UNTIL then to be "a date with UTC time"; a DATE UNTIL is refused by
  `validate_rrule` and `validate_series`, while a rule stored before that keeps being read with
  its DATE as an inclusive local date. The `until` argument applies as well; both are inclusive.

Bounds beyond RFC 5545: only rules at most once a day (FREQ=DAILY, WEEKLY, MONTHLY or YEARLY and
at most one value in each of BYHOUR, BYMINUTE and BYSECOND), so no rule occurs more than
MAX_PER_YEAR times a year; COUNT and INTERVAL at most 1000. A rule that can never occur is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from dateutil import rrule as _rr  # type: ignore[import-untyped,unused-ignore]

MAX_COUNT: Final = 1000
MAX_PER_YEAR: Final = 366  # at most one a day, which the refused parts below guarantee
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
_UNTIL_LOCAL = re.compile(r"[0-9]{8}T[0-9]{6}", re.ASCII)
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
    # A DATE UNTIL (an inclusive local date), which rules stored before it was refused still have.
    stored_until_on: date | None = None


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


def _until(value: str, *, stored: bool) -> tuple[datetime | None, date | None]:
    """UNTIL as a UTC instant; a DATE or a floating local time is refused (RFC 5545 3.3.10).

    A `stored` rule (one accepted earlier) may still hold a DATE, read as an inclusive local date.
    """
    if stored and _UNTIL_DATE.fullmatch(value):
        try:
            return None, datetime.strptime(value, "%Y%m%d").date()
        except ValueError:
            pass
    if _UNTIL_DATE.fullmatch(value) or _UNTIL_LOCAL.fullmatch(value):
        raise InvalidRecurrence(
            "UNTIL must be a UTC date-time (YYYYMMDDTHHMMSSZ) because first_at is a date-time"
        )
    if _UNTIL_UTC.fullmatch(value):
        try:
            return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC), None
        except ValueError:
            pass
    raise InvalidRecurrence("UNTIL must be a UTC date-time YYYYMMDDTHHMMSSZ")


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


@lru_cache(maxsize=1024)
def _parse(rule: str, *, stored: bool = False) -> _Recurrence:
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
    until_at, stored_until_on = (
        _until(parts["UNTIL"], stored=stored) if "UNTIL" in parts else (None, None)
    )
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
    other_by_parts = {name for name in parts if name.startswith("BY") and name != "BYSETPOS"}
    if "BYSETPOS" in parts and not other_by_parts:
        raise InvalidRecurrence("BYSETPOS needs another BYxxx part")
    recurrence = _Recurrence(
        text=text,
        frequency=frequency,
        arguments=arguments,
        count=count,
        until_at=until_at,
        stored_until_on=stored_until_on,
    )
    probe_arguments = {**arguments, "interval": 1}
    if next(iter(_rr.rrule(dtstart=_PROBE_START, **probe_arguments)), None) is None:
        raise InvalidRecurrence("the rule never occurs")
    return recurrence


def validate_rrule(rule: str) -> str:
    """The rule normalised (upper case, no 'RRULE:' prefix); InvalidRecurrence when refused."""
    return _parse(rule).text


def _aligned_probe(recurrence: _Recurrence, start_local: datetime) -> datetime | None:
    """The rule's first occurrence from about year 9970, keeping DTSTART's alignment.

    INTERVAL counts from DTSTART, so a rule can match the calendar and still never meet it from
    this start (FREQ=DAILY;INTERVAL=7;BYDAY=MO from a Tuesday; FREQ=MONTHLY;INTERVAL=12;BYMONTH=6
    from January). dateutil would search such a rule up to year 9999 on every call; looking from
    a whole number of intervals later bounds that search to about 30 years.
    """
    arguments = dict(recurrence.arguments)
    interval: int = arguments.get("interval", 1)
    frequency = recurrence.frequency
    if frequency in ("DAILY", "WEEKLY"):
        step = timedelta(days=interval * (7 if frequency == "WEEKLY" else 1))
        probe_start = start_local + ((_PROBE_START - start_local) // step) * step
    else:
        # The day (and for YEARLY the month) that dateutil takes from DTSTART, made explicit,
        # so the probe may start on the 1st of a month that lacks DTSTART's day.
        if not {"bymonthday", "byyearday", "byweekno", "byweekday"} & arguments.keys():
            arguments["bymonthday"] = (start_local.day,)
            if frequency == "YEARLY" and "bymonth" not in arguments:
                arguments["bymonth"] = (start_local.month,)
        months = interval * (12 if frequency == "YEARLY" else 1)
        elapsed = (_PROBE_START.year - start_local.year) * 12 + _PROBE_START.month
        elapsed -= start_local.month
        year, month = divmod(start_local.month - 1 + (elapsed // months) * months, 12)
        probe_start = start_local.replace(year=start_local.year + year, month=month + 1, day=1)
    return next(iter(_rr.rrule(dtstart=probe_start, **arguments)), None)


def validate_series(*, first_at: datetime, rrule: str, tz: ZoneInfo) -> str:
    """The rule normalised; InvalidRecurrence when it does not occur from `first_at` on.

    "Does not occur" is judged on about 30 years near the end of the calendar, with the start's
    alignment kept: a rule whose INTERVAL meets its BYxxx parts only every few centuries (52
    weeks drifting into June) is refused too, which a reminder can afford.
    """
    _require_aware("first_at", first_at)
    recurrence = _parse(rrule)
    start_local = first_at.astimezone(tz).replace(tzinfo=None, microsecond=0)
    if _aligned_probe(recurrence, start_local) is None:
        raise InvalidRecurrence(
            "the rule does not occur for decades from first_at: its INTERVAL does not meet its "
            "BYxxx parts"
        )
    return recurrence.text


def _require_aware(name: str, value: datetime | None) -> None:
    """Refuse a naive datetime where an instant is meant."""
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")


def _to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A naive local wall time in `tz` as an aware UTC instant."""
    return local.replace(tzinfo=tz).astimezone(UTC)


def _local_bound(bounds: list[datetime | None], tz: ZoneInfo) -> datetime | None:
    """The earliest bound as a naive local time a day later, for dateutil's own UNTIL.

    dateutil only stops looking at year 9999, so a rule that rarely matches would otherwise be
    searched for centuries past the last instant anyone asked about; the day of margin covers
    wall times moved by a DST gap.
    """
    known = [bound for bound in bounds if bound is not None and bound.year < _PROBE_START.year]
    if not known:
        return None
    return min(known).astimezone(tz).replace(tzinfo=None) + timedelta(days=1)


def _occurrences(
    *,
    first_at: datetime,
    recurrence: _Recurrence | None,
    until: datetime | None,
    tz: ZoneInfo,
    from_local: datetime,
    horizon: datetime | None = None,
) -> Iterator[datetime]:
    """Occurrences in order as UTC instants, from about `from_local` (naive local) onwards.

    Nothing after `horizon` (an instant) is looked for, when it is given.
    """
    first_local = first_at.astimezone(tz).replace(tzinfo=None)
    first_utc = first_at.astimezone(UTC)
    rule_until = None if recurrence is None else recurrence.until_at
    if recurrence is not None and recurrence.stored_until_on is not None:
        next_day = datetime.combine(recurrence.stored_until_on + timedelta(days=1), time())
        rule_until = _to_utc(next_day, tz) - timedelta(microseconds=1)

    def in_bounds(occurrence_utc: datetime) -> bool:
        if until is not None and occurrence_utc > until:
            return False
        return rule_until is None or occurrence_utc <= rule_until

    if not in_bounds(first_utc):
        return
    yield first_utc
    yielded = 1
    if recurrence is None:
        return
    start_local = first_local.replace(microsecond=0)
    rule = _rr.rrule(
        dtstart=start_local,
        until=_local_bound([until, rule_until, horizon], tz),
        **recurrence.arguments,
    )
    if recurrence.count is not None:
        candidates: Iterator[datetime] = iter(rule)  # COUNT counts from the start
    else:
        candidates = rule.xafter(max(from_local - timedelta(days=1), start_local), inc=True)
    for candidate in candidates:
        local = candidate.replace(microsecond=first_local.microsecond)
        if local <= first_local:
            continue  # first_at itself is already counted
        if recurrence.count is not None and yielded >= recurrence.count:
            return
        occurrence_utc = _to_utc(local, tz)
        if not in_bounds(occurrence_utc):
            return
        yielded += 1
        yield occurrence_utc


def _prepare(first_at: datetime, rrule: str | None, until: datetime | None) -> _Recurrence | None:
    """Check the arguments shared by the public functions and parse the rule."""
    _require_aware("first_at", first_at)
    _require_aware("until", until)
    return None if rrule is None else _parse(rrule, stored=True)


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
        first_at=first_at,
        recurrence=recurrence,
        until=until,
        tz=tz,
        from_local=from_local,
        horizon=end,
    ):
        if occurrence >= end:
            break
        if occurrence >= start:
            found.append(occurrence)
            if len(found) >= limit:
                break
    return found


def skipped_periods(
    *, first_at: datetime, rrule: str | None, occurrences: Sequence[datetime], tz: ZoneInfo
) -> list[str]:
    """The months ("2026-02") or years ("2027") the rule steps through without an occurrence.

    Only between the first and the last of `occurrences` (UTC instants of this series, in order).
    A MONTHLY rule steps through every INTERVAL-th month from `first_at`'s, a YEARLY one through
    every INTERVAL-th year (or those years' BYMONTH months); BYMONTH leaves out months on purpose,
    so those are not skips. What remains empty is a date that does not exist there (31 April,
    29 February in 2027, a fifth Monday). DAILY and WEEKLY rules report nothing.
    """
    recurrence = None if rrule is None else _parse(rrule, stored=True)
    if recurrence is None or recurrence.frequency not in ("MONTHLY", "YEARLY") or not occurrences:
        return []
    interval: int = recurrence.arguments.get("interval", 1)
    months: tuple[int, ...] = recurrence.arguments.get("bymonth", ())
    start = first_at.astimezone(tz)
    local = [occurrence.astimezone(tz) for occurrence in occurrences]
    if recurrence.frequency == "MONTHLY":
        index = {o.year * 12 + o.month - 1 for o in local}
        origin = start.year * 12 + start.month - 1
        first, last = min(index), max(index)
        first += (origin - first) % interval
        return [
            f"{k // 12:04d}-{k % 12 + 1:02d}"
            for k in range(first, last + 1, interval)
            if k not in index and (not months or k % 12 + 1 in months)
        ]
    years = {o.year for o in local}
    first_year = min(years) + (start.year - min(years)) % interval
    if not months:
        return [f"{y:04d}" for y in range(first_year, max(years) + 1, interval) if y not in years]
    seen = {(o.year, o.month) for o in local}
    first_seen, last_seen = min(seen), max(seen)
    return [
        f"{y:04d}-{m:02d}"
        for y in range(first_year, max(years) + 1, interval)
        for m in sorted(months)
        if first_seen <= (y, m) <= last_seen and (y, m) not in seen
    ]
