"""Tests for community-correction obligation rules and intervals."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.correction.rules import (
    DEFAULT_RULES,
    Interval,
    IntervalKind,
    InvalidRules,
    ObligationKind,
    ObligationRule,
    SupervisionLevel,
    Unit,
    closed_intervals,
    effective_level_on,
    interval_bounds_utc,
    interval_contains,
    intervals_for_month,
    next_interval_start,
    obligations_for_month,
    rule_for,
    rule_segments,
    rules_from_dict,
    rules_to_dict,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
STRICT, NORMAL, LENIENT = SupervisionLevel.STRICT, SupervisionLevel.NORMAL, SupervisionLevel.LENIENT
LONG_AGO, FAR_AHEAD = date(2020, 1, 1), date(2035, 12, 31)


def rule(level: SupervisionLevel, kind: ObligationKind) -> ObligationRule:
    """The default rule of a level for a kind."""
    found = rule_for(rules=DEFAULT_RULES, level=level, kind=kind)
    assert found is not None
    return found


def month_of(
    level: SupervisionLevel,
    kind: ObligationKind,
    month: date,
    starts_on: date = LONG_AGO,
    ends_on: date = FAR_AHEAD,
) -> list[Interval]:
    """Intervals of a default rule that end in a month."""
    return intervals_for_month(
        rule=rule(level, kind),
        month=month,
        supervision_starts_on=starts_on,
        supervision_ends_on=ends_on,
    )


def span(starts_on: date, ends_on: date, *, clipped: bool = False) -> Interval:
    """Shorthand for an interval."""
    return Interval(starts_on=starts_on, ends_on=ends_on, clipped=clipped)


# --- the table ----------------------------------------------------------------------------------


def test_default_rules_match_the_design_table() -> None:
    table = {
        level: {r.kind: (r.interval, r.required, r.unit) for r in rules}
        for level, rules in DEFAULT_RULES.items()
    }
    assert table[STRICT] == {
        ObligationKind.LOCATION: (IntervalKind.DAY, 1, Unit.COUNT),
        ObligationKind.REPORT: (IntervalKind.MONTH, 2, Unit.COUNT),
        ObligationKind.THOUGHT_REPORT: (IntervalKind.MONTH, 1, Unit.COUNT),
        ObligationKind.SERVICE_HOURS: (IntervalKind.MONTH, 8, Unit.HOURS),
        ObligationKind.STUDY: (IntervalKind.MONTH, 8, Unit.HOURS),
        ObligationKind.HOME_VISIT: (IntervalKind.MONTH, 1, Unit.COUNT),
    }
    assert table[NORMAL] == {
        ObligationKind.LOCATION: (IntervalKind.WEEK, 1, Unit.COUNT),
        ObligationKind.REPORT: (IntervalKind.MONTH, 1, Unit.COUNT),
        ObligationKind.THOUGHT_REPORT: (IntervalKind.MONTH, 1, Unit.COUNT),
        ObligationKind.SERVICE_HOURS: (IntervalKind.MONTH, 8, Unit.HOURS),
        ObligationKind.STUDY: (IntervalKind.MONTH, 8, Unit.HOURS),
        ObligationKind.HOME_VISIT: (IntervalKind.QUARTER, 1, Unit.COUNT),
    }
    assert table[LENIENT] == {
        ObligationKind.LOCATION: (IntervalKind.TWO_WEEKS, 1, Unit.COUNT),
        ObligationKind.REPORT: (IntervalKind.TWO_MONTHS, 1, Unit.COUNT),
        ObligationKind.THOUGHT_REPORT: (IntervalKind.MONTH, 1, Unit.COUNT),
        ObligationKind.SERVICE_HOURS: (IntervalKind.MONTH, 4, Unit.HOURS),
        ObligationKind.STUDY: (IntervalKind.MONTH, 4, Unit.HOURS),
        ObligationKind.HOME_VISIT: (IntervalKind.HALF_YEAR, 1, Unit.COUNT),
    }


# --- month walks --------------------------------------------------------------------------------


def test_strict_month_walk() -> None:
    march = month_of(STRICT, ObligationKind.LOCATION, date(2026, 3, 1))
    assert march == [span(date(2026, 3, d), date(2026, 3, d)) for d in range(1, 32)]
    assert len(month_of(STRICT, ObligationKind.LOCATION, date(2028, 2, 1))) == 29
    for kind in (ObligationKind.REPORT, ObligationKind.HOME_VISIT, ObligationKind.STUDY):
        assert month_of(STRICT, kind, date(2026, 2, 1)) == [
            span(date(2026, 2, 1), date(2026, 2, 28))
        ]


def test_normal_month_walk_weeks_span_month_ends() -> None:
    # 1 March 2026 is a Sunday: the week of 23 Feb to 1 Mar ends in March.
    march = month_of(NORMAL, ObligationKind.LOCATION, date(2026, 3, 1))
    assert march == [
        span(date(2026, 2, 23), date(2026, 3, 1)),
        span(date(2026, 3, 2), date(2026, 3, 8)),
        span(date(2026, 3, 9), date(2026, 3, 15)),
        span(date(2026, 3, 16), date(2026, 3, 22)),
        span(date(2026, 3, 23), date(2026, 3, 29)),
    ]
    # The week of 30 March to 5 April is judged in April, not March.
    assert month_of(NORMAL, ObligationKind.LOCATION, date(2026, 4, 1))[0] == span(
        date(2026, 3, 30), date(2026, 4, 5)
    )
    # A week across a year end: 29 Dec 2025 (Monday) to 4 Jan 2026.
    assert month_of(NORMAL, ObligationKind.LOCATION, date(2026, 1, 1))[0] == span(
        date(2025, 12, 29), date(2026, 1, 4)
    )
    assert all(
        i.starts_on.weekday() == 0 and (i.ends_on - i.starts_on).days == 6
        for i in month_of(NORMAL, ObligationKind.LOCATION, date(2026, 8, 1))
    )


def test_normal_home_visit_once_a_quarter() -> None:
    judged = {
        month: month_of(NORMAL, ObligationKind.HOME_VISIT, date(2026, month, 1))
        for month in range(1, 13)
    }
    assert {m for m, intervals in judged.items() if intervals} == {3, 6, 9, 12}
    assert judged[9] == [span(date(2026, 7, 1), date(2026, 9, 30))]


def test_lenient_month_walk() -> None:
    reports = [
        month_of(LENIENT, ObligationKind.REPORT, date(2026, month, 1)) for month in range(1, 13)
    ]
    assert reports[1] == [span(date(2026, 1, 1), date(2026, 2, 28))]
    assert [len(r) for r in reports] == [0, 1] * 6
    visits = [
        month_of(LENIENT, ObligationKind.HOME_VISIT, date(2026, month, 1)) for month in range(1, 13)
    ]
    assert visits[5] == [span(date(2026, 1, 1), date(2026, 6, 30))]
    assert visits[11] == [span(date(2026, 7, 1), date(2026, 12, 31))]
    assert sum(len(v) for v in visits) == 2


def test_two_week_spans_are_anchored_to_the_supervision_start() -> None:
    starts_on = date(2026, 3, 4)  # a Wednesday
    march = month_of(LENIENT, ObligationKind.LOCATION, date(2026, 3, 1), starts_on=starts_on)
    assert march == [
        span(date(2026, 3, 4), date(2026, 3, 17)),
        span(date(2026, 3, 18), date(2026, 3, 31)),
    ]
    april = month_of(LENIENT, ObligationKind.LOCATION, date(2026, 4, 1), starts_on=starts_on)
    assert april == [
        span(date(2026, 4, 1), date(2026, 4, 14)),
        span(date(2026, 4, 15), date(2026, 4, 28)),
    ]
    # A span from 29 April to 12 May is judged in May.
    may = month_of(LENIENT, ObligationKind.LOCATION, date(2026, 5, 1), starts_on=starts_on)
    assert may[0] == span(date(2026, 4, 29), date(2026, 5, 12))


# --- clipping to the supervision ----------------------------------------------------------------


def test_supervision_starting_mid_month() -> None:
    # 10 March: 22 of 31 days remain, more than half: the March report is required in full.
    assert month_of(
        NORMAL, ObligationKind.REPORT, date(2026, 3, 1), starts_on=date(2026, 3, 10)
    ) == [span(date(2026, 3, 10), date(2026, 3, 31), clipped=True)]
    # 20 March: 12 of 31 days remain, less than half: nothing is required for March.
    assert (
        month_of(NORMAL, ObligationKind.REPORT, date(2026, 3, 1), starts_on=date(2026, 3, 20)) == []
    )
    # Exactly half (15 of 30 days in April) still counts.
    assert month_of(
        NORMAL, ObligationKind.REPORT, date(2026, 4, 1), starts_on=date(2026, 4, 16)
    ) == [span(date(2026, 4, 16), date(2026, 4, 30), clipped=True)]
    assert (
        month_of(NORMAL, ObligationKind.REPORT, date(2026, 4, 1), starts_on=date(2026, 4, 17)) == []
    )
    # Nothing before the supervision starts.
    assert (
        month_of(STRICT, ObligationKind.LOCATION, date(2026, 2, 1), starts_on=date(2026, 3, 10))
        == []
    )


def test_supervision_starting_mid_week() -> None:
    # Thursday 5 March: Thu-Sun is 4 of 7 days, required; Friday 6 March: 3 of 7, not required.
    thursday = month_of(
        NORMAL, ObligationKind.LOCATION, date(2026, 3, 1), starts_on=date(2026, 3, 5)
    )
    assert thursday[0] == span(date(2026, 3, 5), date(2026, 3, 8), clipped=True)
    friday = month_of(NORMAL, ObligationKind.LOCATION, date(2026, 3, 1), starts_on=date(2026, 3, 6))
    assert friday[0] == span(date(2026, 3, 9), date(2026, 3, 15))


def test_supervision_ending_mid_interval_is_judged_at_its_end() -> None:
    # Ends Wednesday 15 April: the week from 13 April is 3 days, not required.
    april = month_of(NORMAL, ObligationKind.LOCATION, date(2026, 4, 1), ends_on=date(2026, 4, 15))
    assert april[-1] == span(date(2026, 4, 6), date(2026, 4, 12))
    # A two-month pair cut at 31 January (31 of 59 days) closes in January.
    january = month_of(LENIENT, ObligationKind.REPORT, date(2026, 1, 1), ends_on=date(2026, 1, 31))
    assert january == [span(date(2026, 1, 1), date(2026, 1, 31), clipped=True)]
    assert (
        month_of(LENIENT, ObligationKind.REPORT, date(2026, 2, 1), ends_on=date(2026, 1, 31)) == []
    )
    # The last day of a daily rule is the supervision's last day.
    assert month_of(STRICT, ObligationKind.LOCATION, date(2026, 4, 1), ends_on=date(2026, 4, 15))[
        -1
    ] == span(date(2026, 4, 15), date(2026, 4, 15))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="first day"):
        month_of(STRICT, ObligationKind.REPORT, date(2026, 3, 2))
    with pytest.raises(ValueError, match="before"):
        month_of(
            STRICT,
            ObligationKind.REPORT,
            date(2026, 3, 1),
            starts_on=date(2026, 3, 5),
            ends_on=date(2026, 3, 4),
        )


# --- closing intervals --------------------------------------------------------------------------


def test_closed_intervals_up_to_yesterday() -> None:
    starts_on, ends_on = date(2026, 3, 4), date(2026, 9, 3)
    closed = closed_intervals(
        rule=rule(LENIENT, ObligationKind.LOCATION),
        supervision_starts_on=starts_on,
        supervision_ends_on=ends_on,
        up_to_on=date(2026, 3, 31),
    )
    assert closed == [
        span(date(2026, 3, 4), date(2026, 3, 17)),
        span(date(2026, 3, 18), date(2026, 3, 31)),
    ]
    assert (
        closed_intervals(
            rule=rule(LENIENT, ObligationKind.LOCATION),
            supervision_starts_on=starts_on,
            supervision_ends_on=ends_on,
            up_to_on=date(2026, 3, 30),
        )
        == closed[:1]
    )
    assert (
        closed_intervals(
            rule=rule(STRICT, ObligationKind.LOCATION),
            supervision_starts_on=starts_on,
            supervision_ends_on=ends_on,
            up_to_on=date(2026, 3, 3),
        )
        == []
    )


@given(
    interval_kind=st.sampled_from(list(IntervalKind)),
    starts_on=st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)),
    length_days=st.integers(0, 800),
)
def test_months_partition_the_closed_intervals(
    interval_kind: IntervalKind, starts_on: date, length_days: int
) -> None:
    kind = ObligationKind.STUDY
    some_rule = ObligationRule(kind=kind, interval=interval_kind, required=1, unit=Unit.HOURS)
    ends_on = starts_on + timedelta(days=length_days)
    everything = closed_intervals(
        rule=some_rule,
        supervision_starts_on=starts_on,
        supervision_ends_on=ends_on,
        up_to_on=ends_on,
    )
    by_month: list[Interval] = []
    month = starts_on.replace(day=1)
    while month <= ends_on:
        by_month += intervals_for_month(
            rule=some_rule,
            month=month,
            supervision_starts_on=starts_on,
            supervision_ends_on=ends_on,
        )
        month = (month + timedelta(days=32)).replace(day=1)
    assert by_month == everything
    for previous, following in zip(everything, everything[1:], strict=False):
        # Intervals never overlap; a gap only where a short clipped interval was left out.
        assert following.starts_on > previous.ends_on
    for interval in everything:
        assert starts_on <= interval.starts_on <= interval.ends_on <= ends_on


# --- time zones ---------------------------------------------------------------------------------


def test_interval_bounds_in_shanghai() -> None:
    day = span(date(2026, 3, 31), date(2026, 3, 31))
    start_at, end_at = interval_bounds_utc(interval=day, tz=SHANGHAI)
    assert start_at == datetime(2026, 3, 30, 16, 0, tzinfo=UTC)
    assert end_at == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    assert start_at.tzinfo is UTC


def test_check_ins_at_23_59_and_00_01_local() -> None:
    march = span(date(2026, 3, 1), date(2026, 3, 31))
    last_minute = datetime(2026, 3, 31, 23, 59, tzinfo=SHANGHAI)
    first_minute_after = datetime(2026, 4, 1, 0, 1, tzinfo=SHANGHAI)
    assert first_minute_after.astimezone(UTC) == datetime(2026, 3, 31, 16, 1, tzinfo=UTC)
    assert interval_contains(interval=march, at=last_minute, tz=SHANGHAI)
    assert not interval_contains(interval=march, at=first_minute_after, tz=SHANGHAI)
    # Local 00:01 on 1 March is 16:01 UTC on 28 February and belongs to March.
    assert interval_contains(
        interval=march, at=datetime(2026, 2, 28, 16, 1, tzinfo=UTC), tz=SHANGHAI
    )
    assert not interval_contains(
        interval=march, at=datetime(2026, 2, 28, 15, 59, tzinfo=UTC), tz=SHANGHAI
    )
    with pytest.raises(ValueError, match="aware"):
        interval_contains(interval=march, at=datetime(2026, 3, 5), tz=SHANGHAI)


def test_interval_bounds_across_dst() -> None:
    # Berlin moves to summer time on 29 March 2026: that day lasts 23 hours.
    start_at, end_at = interval_bounds_utc(
        interval=span(date(2026, 3, 29), date(2026, 3, 29)), tz=BERLIN
    )
    assert start_at == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert end_at - start_at == timedelta(hours=23)


# --- configuration ------------------------------------------------------------------------------


def test_rules_round_trip_through_json() -> None:
    text = json.dumps(rules_to_dict(DEFAULT_RULES))
    assert rules_from_dict(json.loads(text)) == dict(DEFAULT_RULES)


def test_overridden_rules_are_used() -> None:
    config: dict[str, Any] = rules_to_dict(DEFAULT_RULES)
    config["lenient"] = [
        {"kind": "location", "interval": "week", "required": 2, "unit": "count"},
    ]
    rules = rules_from_dict(config)
    assert rule_for(rules=rules, level=LENIENT, kind=ObligationKind.HOME_VISIT) is None
    lenient_location = rule_for(rules=rules, level=LENIENT, kind=ObligationKind.LOCATION)
    assert lenient_location == ObligationRule(
        kind=ObligationKind.LOCATION, interval=IntervalKind.WEEK, required=2.0, unit=Unit.COUNT
    )


def bad_entry(**changes: object) -> dict[str, Any]:
    """A configuration whose first strict rule is changed."""
    config: dict[str, Any] = rules_to_dict(DEFAULT_RULES)
    entry = dict(config["strict"][0])
    entry.update(changes)
    config["strict"][0] = {k: v for k, v in entry.items() if v is not None}
    return config


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([], "object"),
        ({"strict": [], "normal": []}, "missing"),
        ({"strict": [], "normal": [], "lenient": [], "relaxed": []}, "unknown"),
        ({"strict": {}, "normal": [], "lenient": []}, "list"),
        (bad_entry(kind="dance"), r"strict\[0\]"),
        (bad_entry(interval="fortnight"), "fortnight"),
        (bad_entry(required=0), "required"),
        (bad_entry(required=-1), "required"),
        (bad_entry(required=float("nan")), "required"),
        (bad_entry(required=float("inf")), "required"),
        (bad_entry(required=True), "number"),
        (bad_entry(required="1"), "number"),
        (bad_entry(required=1.5), "whole"),
        (bad_entry(unit="hours"), "counted in count"),
        (bad_entry(unit=None), "fields"),
        (bad_entry(extra=1), "fields"),
        (bad_entry(kind="report", interval="month"), None),
    ],
)
def test_rules_from_dict_rejects(config: object, message: str | None) -> None:
    if message is None:  # a second 'report' in strict
        with pytest.raises(InvalidRules, match="twice"):
            rules_from_dict(config)
        return
    with pytest.raises(InvalidRules, match=message):
        rules_from_dict(config)


def test_hours_allow_fractions() -> None:
    config = bad_entry(kind="study", interval="week", required=1.5, unit="hours")
    config["strict"] = [
        r for r in config["strict"] if r["kind"] != "study" or r["interval"] == "week"
    ]
    rules = rules_from_dict(config)
    study = rule_for(rules=rules, level=STRICT, kind=ObligationKind.STUDY)
    assert study is not None
    assert study.required == 1.5


# --- level changes ------------------------------------------------------------------------------


def test_effective_level_on() -> None:
    history = [
        (date(2026, 6, 10), NORMAL),
        (date(2026, 1, 1), STRICT),
        (date(2026, 6, 10), LENIENT),
    ]
    assert effective_level_on(history=history, day=date(2026, 1, 1)) is STRICT
    assert effective_level_on(history=history, day=date(2026, 6, 9)) is STRICT
    assert effective_level_on(history=history, day=date(2026, 6, 10)) is LENIENT
    assert effective_level_on(history=history, day=date(2030, 1, 1)) is LENIENT
    with pytest.raises(ValueError, match="no supervision level"):
        effective_level_on(history=history, day=date(2025, 12, 31))
    with pytest.raises(ValueError, match="empty"):
        effective_level_on(history=[], day=date(2026, 1, 1))


def test_next_interval_start() -> None:
    starts_on = date(2026, 3, 4)
    cases = [
        (STRICT, ObligationKind.LOCATION, date(2026, 5, 20), date(2026, 5, 21)),
        (NORMAL, ObligationKind.LOCATION, date(2026, 5, 20), date(2026, 5, 25)),
        (NORMAL, ObligationKind.LOCATION, date(2026, 5, 24), date(2026, 5, 25)),
        (NORMAL, ObligationKind.LOCATION, date(2026, 5, 25), date(2026, 6, 1)),
        (LENIENT, ObligationKind.LOCATION, date(2026, 3, 17), date(2026, 3, 18)),
        (LENIENT, ObligationKind.LOCATION, date(2026, 3, 18), date(2026, 4, 1)),
        (STRICT, ObligationKind.REPORT, date(2026, 5, 20), date(2026, 6, 1)),
        (LENIENT, ObligationKind.REPORT, date(2026, 5, 20), date(2026, 7, 1)),
        (NORMAL, ObligationKind.HOME_VISIT, date(2026, 11, 30), date(2027, 1, 1)),
        (LENIENT, ObligationKind.HOME_VISIT, date(2026, 6, 30), date(2026, 7, 1)),
        (STRICT, ObligationKind.LOCATION, date(2026, 1, 1), starts_on),
    ]
    for level, kind, after_on, expected in cases:
        assert (
            next_interval_start(
                rule=rule(level, kind), after_on=after_on, supervision_starts_on=starts_on
            )
            == expected
        ), (level, kind, after_on)


def test_rule_segments_change_at_next_interval() -> None:
    starts_on, ends_on = date(2026, 3, 4), date(2027, 3, 3)
    history = [(starts_on, NORMAL), (date(2026, 5, 20), STRICT)]
    location = rule_segments(
        kind=ObligationKind.LOCATION,
        rules=DEFAULT_RULES,
        history=history,
        supervision_starts_on=starts_on,
        supervision_ends_on=ends_on,
    )
    assert [(s.level, s.starts_on, s.ends_on) for s in location] == [
        (NORMAL, starts_on, date(2026, 5, 24)),
        (STRICT, date(2026, 5, 25), ends_on),
    ]
    report = rule_segments(
        kind=ObligationKind.REPORT,
        rules=DEFAULT_RULES,
        history=history,
        supervision_starts_on=starts_on,
        supervision_ends_on=ends_on,
    )
    assert [(s.level, s.starts_on) for s in report] == [
        (NORMAL, starts_on),
        (STRICT, date(2026, 6, 1)),
    ]
    assert report[1].rule == rule(STRICT, ObligationKind.REPORT)


def test_rule_segments_superseded_and_reverted_changes() -> None:
    starts_on, ends_on = date(2026, 1, 1), date(2026, 12, 31)
    history = [(starts_on, NORMAL), (date(2026, 5, 5), STRICT), (date(2026, 5, 20), LENIENT)]
    report = rule_segments(
        kind=ObligationKind.REPORT,
        rules=DEFAULT_RULES,
        history=history,
        supervision_starts_on=starts_on,
        supervision_ends_on=ends_on,
    )
    assert [(s.level, s.starts_on) for s in report] == [
        (NORMAL, starts_on),
        (LENIENT, date(2026, 6, 1)),
    ]
    reverted = [*history[:2], (date(2026, 5, 20), NORMAL)]
    report = rule_segments(
        kind=ObligationKind.REPORT,
        rules=DEFAULT_RULES,
        history=reverted,
        supervision_starts_on=starts_on,
        supervision_ends_on=ends_on,
    )
    assert [(s.level, s.starts_on, s.ends_on) for s in report] == [(NORMAL, starts_on, ends_on)]
    with pytest.raises(ValueError, match="no supervision level"):
        rule_segments(
            kind=ObligationKind.REPORT,
            rules=DEFAULT_RULES,
            history=[(date(2026, 2, 1), NORMAL)],
            supervision_starts_on=starts_on,
            supervision_ends_on=ends_on,
        )


def test_obligations_for_month_across_a_level_change() -> None:
    starts_on, ends_on = date(2026, 1, 1), date(2026, 12, 31)
    # Strict to normal decided on Wednesday 13 May.
    history = [(starts_on, STRICT), (date(2026, 5, 13), NORMAL)]
    may = obligations_for_month(
        rules=DEFAULT_RULES,
        history=history,
        month=date(2026, 5, 1),
        supervision_starts_on=starts_on,
        supervision_ends_on=ends_on,
    )
    locations = [o for o in may if o.rule.kind is ObligationKind.LOCATION]
    # Daily up to 13 May, then the week of 11-17 May clipped to Thu-Sun, then whole weeks.
    assert [o.level for o in locations[:13]] == [STRICT] * 13
    assert locations[12].interval == span(date(2026, 5, 13), date(2026, 5, 13))
    assert [(o.level, o.interval) for o in locations[13:]] == [
        (NORMAL, span(date(2026, 5, 14), date(2026, 5, 17), clipped=True)),
        (NORMAL, span(date(2026, 5, 18), date(2026, 5, 24))),
        (NORMAL, span(date(2026, 5, 25), date(2026, 5, 31))),
    ]
    reports = [o for o in may if o.rule.kind is ObligationKind.REPORT]
    assert [(o.level, o.rule.required) for o in reports] == [(STRICT, 2)]
    june = obligations_for_month(
        rules=DEFAULT_RULES,
        history=history,
        month=date(2026, 6, 1),
        supervision_starts_on=starts_on,
        supervision_ends_on=ends_on,
    )
    assert [
        (o.rule.kind, o.level, o.interval)
        for o in june
        if o.rule.kind is not ObligationKind.LOCATION
    ] == [
        (ObligationKind.REPORT, NORMAL, span(date(2026, 6, 1), date(2026, 6, 30))),
        (ObligationKind.THOUGHT_REPORT, NORMAL, span(date(2026, 6, 1), date(2026, 6, 30))),
        (ObligationKind.SERVICE_HOURS, NORMAL, span(date(2026, 6, 1), date(2026, 6, 30))),
        (ObligationKind.STUDY, NORMAL, span(date(2026, 6, 1), date(2026, 6, 30))),
        # Home visits: the quarter from 1 June is cut to one month of three, not required.
    ]
    september = obligations_for_month(
        rules=DEFAULT_RULES,
        history=history,
        month=date(2026, 9, 1),
        supervision_starts_on=starts_on,
        supervision_ends_on=ends_on,
    )
    visits = [o for o in september if o.rule.kind is ObligationKind.HOME_VISIT]
    assert [(o.level, o.interval) for o in visits] == [
        (NORMAL, span(date(2026, 7, 1), date(2026, 9, 30)))
    ]


def test_obligations_for_month_without_changes_equals_intervals_for_month() -> None:
    starts_on, ends_on = date(2026, 3, 4), date(2027, 3, 3)
    for level in SupervisionLevel:
        for month_number in (3, 6, 12):
            month = date(2026, month_number, 1)
            due = obligations_for_month(
                rules=DEFAULT_RULES,
                history=[(starts_on, level)],
                month=month,
                supervision_starts_on=starts_on,
                supervision_ends_on=ends_on,
            )
            expected = [
                (r, interval)
                for r in DEFAULT_RULES[level]
                for interval in intervals_for_month(
                    rule=r,
                    month=month,
                    supervision_starts_on=starts_on,
                    supervision_ends_on=ends_on,
                )
            ]
            assert [(o.rule, o.interval) for o in due] == expected
