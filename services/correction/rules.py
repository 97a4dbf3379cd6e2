"""Community-correction obligations by supervision level, and the intervals they are judged in.

Pure calendar rules; no I/O. Dates are local calendar dates in the deployment's time zone; only
`interval_bounds_utc` and `interval_contains` turn them into instants.

Interval choices (the design leaves them open; these are the ones made here):

- An obligation is judged once per interval, in the month its interval *ends*:
  `intervals_for_month` lists the intervals whose (clipped) last day falls in that month.
- Days are local calendar days; weeks are ISO weeks, Monday to Sunday; two-week spans are counted
  from the supervision's first day (so they are aligned to the supervision, not to the calendar);
  months, two-month pairs (Jan-Feb, Mar-Apr, ...), quarters and halves follow the calendar.
- An interval partly outside the supervision is clipped to it. A clipped interval still requires
  the full amount (no pro-rata), unless it is shorter than half its normal length in days, in which
  case nothing is required for it and it is left out.
- A level change takes effect, per obligation, from the start of the next interval of the rule in
  force on the day of the change (the current interval is finished under the old level); see
  `rule_segments`. Boundary intervals of the new rule are clipped with the same half-length test.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo


class SupervisionLevel(StrEnum):
    """Supervision level of a community-correction subject."""

    STRICT = "strict"  # 严管
    NORMAL = "normal"  # 普管
    LENIENT = "lenient"  # 宽管


class ObligationKind(StrEnum):
    """What a subject (or an officer, for home visits) has to do."""

    LOCATION = "location"  # location check-in
    REPORT = "report"  # 报到, in person
    THOUGHT_REPORT = "thought_report"  # 思想汇报
    SERVICE_HOURS = "service_hours"  # 公益活动
    STUDY = "study"  # 教育学习
    HOME_VISIT = "home_visit"  # by an officer or a social worker


class IntervalKind(StrEnum):
    """The length of the interval in which an obligation must be met."""

    DAY = "day"
    WEEK = "week"
    TWO_WEEKS = "two_weeks"
    MONTH = "month"
    TWO_MONTHS = "two_months"
    QUARTER = "quarter"
    HALF_YEAR = "half_year"


class Unit(StrEnum):
    """What `required` counts."""

    COUNT = "count"
    HOURS = "hours"


HOURS_KINDS: Final = frozenset({ObligationKind.SERVICE_HOURS, ObligationKind.STUDY})
MAX_REQUIRED: Final = 1000.0

_MONTHS_PER_INTERVAL: Final[Mapping[IntervalKind, int]] = MappingProxyType(
    {
        IntervalKind.MONTH: 1,
        IntervalKind.TWO_MONTHS: 2,
        IntervalKind.QUARTER: 3,
        IntervalKind.HALF_YEAR: 6,
    }
)
_RULE_FIELDS: Final = frozenset({"kind", "interval", "required", "unit"})


class InvalidRules(ValueError):
    """A rule or a rules configuration that cannot be used."""


@dataclass(frozen=True)
class ObligationRule:
    """`required` units of `kind` in every interval of length `interval`."""

    kind: ObligationKind
    interval: IntervalKind
    required: float
    unit: Unit

    def __post_init__(self) -> None:
        """Coerce enum values given as strings and reject impossible rules."""
        try:
            object.__setattr__(self, "kind", ObligationKind(self.kind))
            object.__setattr__(self, "interval", IntervalKind(self.interval))
            object.__setattr__(self, "unit", Unit(self.unit))
        except ValueError as error:
            raise InvalidRules(str(error)) from None
        required = self.required
        if isinstance(required, bool) or not isinstance(required, int | float):
            raise InvalidRules(f"required must be a number, got {required!r}")
        if not math.isfinite(required) or not 0 < required <= MAX_REQUIRED:
            raise InvalidRules(f"required must be in (0, {MAX_REQUIRED:g}], got {required!r}")
        expected_unit = Unit.HOURS if self.kind in HOURS_KINDS else Unit.COUNT
        if self.unit is not expected_unit:
            raise InvalidRules(f"{self.kind} is counted in {expected_unit}, not {self.unit}")
        if self.unit is Unit.COUNT and not float(required).is_integer():
            raise InvalidRules(f"a count must be a whole number, got {required!r}")
        object.__setattr__(self, "required", float(required))


@dataclass(frozen=True)
class Interval:
    """Local calendar days from `starts_on` to `ends_on`, both inclusive."""

    starts_on: date
    ends_on: date
    clipped: bool = False  # True when cut short by the supervision period or a level change


@dataclass(frozen=True)
class RuleSegment:
    """The level (and its rule for one obligation kind) in force from `starts_on` to `ends_on`."""

    level: SupervisionLevel
    rule: ObligationRule | None  # None when the level's rules have no such obligation
    starts_on: date
    ends_on: date


@dataclass(frozen=True)
class DueObligation:
    """One obligation judged in a month: the rule, the level it came from and its interval."""

    level: SupervisionLevel
    rule: ObligationRule
    interval: Interval


RuleSet = Mapping[SupervisionLevel, Sequence[ObligationRule]]
LevelHistory = Sequence[tuple[date, SupervisionLevel]]


def _rule(kind: ObligationKind, interval: IntervalKind, required: float) -> ObligationRule:
    """A rule with the unit that its kind is counted in."""
    unit = Unit.HOURS if kind in HOURS_KINDS else Unit.COUNT
    return ObligationRule(kind=kind, interval=interval, required=required, unit=unit)


_K = ObligationKind
_I = IntervalKind

DEFAULT_RULES: Final[RuleSet] = MappingProxyType(
    {
        SupervisionLevel.STRICT: (
            _rule(_K.LOCATION, _I.DAY, 1),
            _rule(_K.REPORT, _I.MONTH, 2),
            _rule(_K.THOUGHT_REPORT, _I.MONTH, 1),
            _rule(_K.SERVICE_HOURS, _I.MONTH, 8),
            _rule(_K.STUDY, _I.MONTH, 8),
            _rule(_K.HOME_VISIT, _I.MONTH, 1),
        ),
        SupervisionLevel.NORMAL: (
            _rule(_K.LOCATION, _I.WEEK, 1),
            _rule(_K.REPORT, _I.MONTH, 1),
            _rule(_K.THOUGHT_REPORT, _I.MONTH, 1),
            _rule(_K.SERVICE_HOURS, _I.MONTH, 8),
            _rule(_K.STUDY, _I.MONTH, 8),
            _rule(_K.HOME_VISIT, _I.QUARTER, 1),
        ),
        SupervisionLevel.LENIENT: (
            _rule(_K.LOCATION, _I.TWO_WEEKS, 1),
            _rule(_K.REPORT, _I.TWO_MONTHS, 1),
            _rule(_K.THOUGHT_REPORT, _I.MONTH, 1),
            _rule(_K.SERVICE_HOURS, _I.MONTH, 4),
            _rule(_K.STUDY, _I.MONTH, 4),
            _rule(_K.HOME_VISIT, _I.HALF_YEAR, 1),
        ),
    }
)


# --- configuration ------------------------------------------------------------------------------


def rules_from_dict(data: object) -> dict[SupervisionLevel, tuple[ObligationRule, ...]]:
    """Validate a per-office JSON configuration ({level: [{kind, interval, required, unit}]})."""
    if not isinstance(data, Mapping):
        raise InvalidRules("rules must be an object keyed by supervision level")
    unknown = set(data) - set(SupervisionLevel)
    if unknown:
        raise InvalidRules(f"unknown supervision levels: {sorted(map(str, unknown))}")
    missing = [level.value for level in SupervisionLevel if level.value not in data]
    if missing:
        raise InvalidRules(f"missing supervision levels: {missing}")
    rules: dict[SupervisionLevel, tuple[ObligationRule, ...]] = {}
    for level in SupervisionLevel:
        entries = data[level.value]
        if not isinstance(entries, list):
            raise InvalidRules(f"{level}: must be a list of rules")
        level_rules: list[ObligationRule] = []
        for position, entry in enumerate(entries):
            where = f"{level}[{position}]"
            if not isinstance(entry, Mapping):
                raise InvalidRules(f"{where}: must be an object")
            if set(entry) != _RULE_FIELDS:
                raise InvalidRules(f"{where}: fields must be exactly {sorted(_RULE_FIELDS)}")
            try:
                rule = ObligationRule(
                    kind=entry["kind"],
                    interval=entry["interval"],
                    required=entry["required"],
                    unit=entry["unit"],
                )
            except InvalidRules as error:
                raise InvalidRules(f"{where}: {error}") from None
            if any(existing.kind is rule.kind for existing in level_rules):
                raise InvalidRules(f"{where}: {rule.kind} appears twice")
            level_rules.append(rule)
        rules[level] = tuple(level_rules)
    return rules


def rules_to_dict(rules: RuleSet) -> dict[str, list[dict[str, str | float]]]:
    """The JSON-ready form of a rule set, which `rules_from_dict` reads back."""
    return {
        str(level): [
            {
                "kind": rule.kind.value,
                "interval": rule.interval.value,
                "required": rule.required,
                "unit": rule.unit.value,
            }
            for rule in level_rules
        ]
        for level, level_rules in rules.items()
    }


def rule_for(
    *, rules: RuleSet, level: SupervisionLevel, kind: ObligationKind
) -> ObligationRule | None:
    """The rule for one obligation kind at one level, or None when the level has none."""
    return next((rule for rule in rules.get(level, ()) if rule.kind is kind), None)


# --- intervals ----------------------------------------------------------------------------------


def _month_start(month_index: int) -> date:
    """First day of the month with the given month index (months since year 0)."""
    return date(month_index // 12, month_index % 12 + 1, 1)


def _month_end(day: date) -> date:
    """Last day of the month that holds `day`."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _nominal_interval(kind: IntervalKind, *, day: date, anchor_on: date) -> tuple[date, date]:
    """The unclipped interval of `kind` that holds `day` (two-week spans count from anchor_on)."""
    if kind is IntervalKind.DAY:
        return day, day
    if kind is IntervalKind.WEEK:
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    if kind is IntervalKind.TWO_WEEKS:
        span_start = anchor_on + timedelta(days=(day - anchor_on).days // 14 * 14)
        return span_start, span_start + timedelta(days=13)
    months = _MONTHS_PER_INTERVAL[kind]
    day_index = day.year * 12 + day.month - 1
    first_index = day_index - day_index % months
    return _month_start(first_index), _month_end(_month_start(first_index + months - 1))


def _nominal_intervals(
    kind: IntervalKind, *, from_on: date, to_on: date, anchor_on: date
) -> Iterator[tuple[date, date]]:
    """The unclipped intervals that overlap [from_on, to_on], in order."""
    day = from_on
    while day <= to_on:
        starts_on, ends_on = _nominal_interval(kind, day=day, anchor_on=anchor_on)
        yield starts_on, ends_on
        if ends_on >= date.max:
            return
        day = ends_on + timedelta(days=1)


def _required_intervals(
    rule: ObligationRule,
    *,
    clip_starts_on: date,
    clip_ends_on: date,
    anchor_on: date,
    ends_from_on: date,
    ends_to_on: date,
) -> list[Interval]:
    """Clipped intervals that still require something and whose last day is in the range."""
    low, high = max(ends_from_on, clip_starts_on), min(ends_to_on, clip_ends_on)
    intervals: list[Interval] = []
    if low > high:
        return intervals
    for nominal_starts_on, nominal_ends_on in _nominal_intervals(
        rule.interval, from_on=low, to_on=high, anchor_on=anchor_on
    ):
        starts_on = max(nominal_starts_on, clip_starts_on)
        ends_on = min(nominal_ends_on, clip_ends_on)
        if not ends_from_on <= ends_on <= ends_to_on:
            continue
        nominal_days = (nominal_ends_on - nominal_starts_on).days + 1
        if 2 * ((ends_on - starts_on).days + 1) < nominal_days:
            continue  # shorter than half its normal length: nothing is required
        clipped = (starts_on, ends_on) != (nominal_starts_on, nominal_ends_on)
        intervals.append(Interval(starts_on=starts_on, ends_on=ends_on, clipped=clipped))
    return intervals


def _check_supervision(supervision_starts_on: date, supervision_ends_on: date) -> None:
    """Reject a supervision that ends before it starts."""
    if supervision_ends_on < supervision_starts_on:
        raise ValueError("supervision_ends_on is before supervision_starts_on")


def _check_month(month: date) -> None:
    """Reject a month that is not given by its first day."""
    if month.day != 1:
        raise ValueError(f"month must be the first day of a month, got {month}")


def intervals_for_month(
    *, rule: ObligationRule, month: date, supervision_starts_on: date, supervision_ends_on: date
) -> list[Interval]:
    """The required intervals of `rule` that end in `month` (its first day), clipped to supervision.

    Each interval is judged once, in the month its (clipped) last day falls in: a week from 29 June
    to 5 July belongs to July. Intervals clipped below half their length are left out.
    """
    _check_month(month)
    _check_supervision(supervision_starts_on, supervision_ends_on)
    return _required_intervals(
        rule,
        clip_starts_on=supervision_starts_on,
        clip_ends_on=supervision_ends_on,
        anchor_on=supervision_starts_on,
        ends_from_on=month,
        ends_to_on=_month_end(month),
    )


def closed_intervals(
    *,
    rule: ObligationRule,
    supervision_starts_on: date,
    supervision_ends_on: date,
    up_to_on: date,
) -> list[Interval]:
    """Every required interval of `rule` whose last day is on or before `up_to_on`, in order.

    A worker running on local day D passes D - 1 day: every interval listed is then over.
    """
    _check_supervision(supervision_starts_on, supervision_ends_on)
    return _required_intervals(
        rule,
        clip_starts_on=supervision_starts_on,
        clip_ends_on=supervision_ends_on,
        anchor_on=supervision_starts_on,
        ends_from_on=supervision_starts_on,
        ends_to_on=up_to_on,
    )


def interval_bounds_utc(*, interval: Interval, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The interval as aware UTC instants [start_at, end_at): local midnight to the midnight after.

    A local midnight that does not exist (a DST gap at 00:00) maps to the first instant of the day.
    """
    start_at = datetime.combine(interval.starts_on, time.min, tzinfo=tz).astimezone(UTC)
    day_after = interval.ends_on + timedelta(days=1)
    end_at = datetime.combine(day_after, time.min, tzinfo=tz).astimezone(UTC)
    return start_at, end_at


def interval_contains(*, interval: Interval, at: datetime, tz: ZoneInfo) -> bool:
    """Whether the aware instant `at` falls within the interval's local days."""
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    start_at, end_at = interval_bounds_utc(interval=interval, tz=tz)
    return start_at <= at < end_at


# --- level changes ------------------------------------------------------------------------------


def _sorted_history(history: LevelHistory) -> list[tuple[date, SupervisionLevel]]:
    """History by effective date; of entries on the same date, the later in the input wins."""
    if not history:
        raise ValueError("the level history is empty")
    return sorted(
        ((effective_from, SupervisionLevel(level)) for effective_from, level in history),
        key=lambda entry: entry[0],
    )


def effective_level_on(*, history: LevelHistory, day: date) -> SupervisionLevel:
    """The level recorded for `day`: the latest entry with effective_from <= day.

    Entries may come in any order; of two on the same date the later one in `history` wins.
    ValueError when `day` is before the first entry.
    """
    level: SupervisionLevel | None = None
    for effective_from, entry_level in _sorted_history(history):
        if effective_from > day:
            break
        level = entry_level
    if level is None:
        raise ValueError(f"no supervision level recorded on or before {day}")
    return level


def next_interval_start(
    *, rule: ObligationRule, after_on: date, supervision_starts_on: date
) -> date:
    """The first day of the interval after the one holding `after_on` (the supervision's start
    when `after_on` is before it): the day from which a change made on `after_on` applies."""
    if after_on < supervision_starts_on:
        return supervision_starts_on
    _, ends_on = _nominal_interval(rule.interval, day=after_on, anchor_on=supervision_starts_on)
    return ends_on + timedelta(days=1)


def rule_segments(
    *,
    kind: ObligationKind,
    rules: RuleSet,
    history: LevelHistory,
    supervision_starts_on: date,
    supervision_ends_on: date,
) -> list[RuleSegment]:
    """Which level's rule for `kind` is in force when, over the whole supervision.

    `history` holds (decided_on, level) entries; the level on the supervision's first day must be
    recorded (an entry on or before it). A change decided on day D takes effect at
    `next_interval_start` of the rule in force on D (the day after D when that level has no rule
    for `kind`). A change decided before an earlier one has taken effect replaces it.
    """
    _check_supervision(supervision_starts_on, supervision_ends_on)
    entries = _sorted_history(history)
    # (level, in force from); the first is the level in force on the supervision's first day.
    segments = [
        (effective_level_on(history=history, day=supervision_starts_on), supervision_starts_on)
    ]
    for decided_on, level in entries:
        if decided_on <= supervision_starts_on or decided_on > supervision_ends_on:
            continue
        in_force_level, in_force_from = segments[-1]
        if in_force_from > decided_on:
            segments[-1] = (level, in_force_from)  # the pending change never took effect
        else:
            rule = rule_for(rules=rules, level=in_force_level, kind=kind)
            if rule is None:
                switch_on = decided_on + timedelta(days=1)
            else:
                switch_on = next_interval_start(
                    rule=rule, after_on=decided_on, supervision_starts_on=supervision_starts_on
                )
            segments.append((level, switch_on))
        if len(segments) > 1 and segments[-1][0] is segments[-2][0]:
            segments.pop()  # a change back to the level already in force changes nothing
    result: list[RuleSegment] = []
    for position, (level, starts_on) in enumerate(segments):
        if starts_on > supervision_ends_on:
            break
        if position + 1 < len(segments):
            ends_on = min(segments[position + 1][1] - timedelta(days=1), supervision_ends_on)
        else:
            ends_on = supervision_ends_on
        rule = rule_for(rules=rules, level=level, kind=kind)
        result.append(RuleSegment(level=level, rule=rule, starts_on=starts_on, ends_on=ends_on))
    return result


def obligations_for_month(
    *,
    rules: RuleSet,
    history: LevelHistory,
    month: date,
    supervision_starts_on: date,
    supervision_ends_on: date,
) -> list[DueObligation]:
    """Every obligation judged in `month` (its first day), across level changes, by kind then date.

    Like `intervals_for_month`, but each kind follows `rule_segments`: intervals are clipped to
    the segment of the level in force, with the same half-length test. Two-week spans stay aligned
    to the supervision's first day.
    """
    _check_month(month)
    due: list[DueObligation] = []
    for kind in ObligationKind:
        segments = rule_segments(
            kind=kind,
            rules=rules,
            history=history,
            supervision_starts_on=supervision_starts_on,
            supervision_ends_on=supervision_ends_on,
        )
        for segment in segments:
            if segment.rule is None:
                continue
            for interval in _required_intervals(
                segment.rule,
                clip_starts_on=segment.starts_on,
                clip_ends_on=segment.ends_on,
                anchor_on=supervision_starts_on,
                ends_from_on=month,
                ends_to_on=_month_end(month),
            ):
                due.append(DueObligation(level=segment.level, rule=segment.rule, interval=interval))
    return due
