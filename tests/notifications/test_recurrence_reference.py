"""Recurrence against the references: RFC 5545's own examples and python-dateutil's test vectors.

For every rule this project accepts, the occurrences equal those of `dateutil.rrule` with the same
DTSTART (an aware time in the zone), with RFC 5545's rule that DTSTART is always the first
occurrence; in Asia/Shanghai and in America/New_York (where RFC 5545's examples are set).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as du  # type: ignore[import-untyped,unused-ignore]

from notifications.recurrence import (
    MAX_PER_YEAR,
    InvalidRecurrence,
    next_occurrence,
    occurrences_between,
    validate_rrule,
)

ZONES = [ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York")]
FAR = datetime(9000, 1, 1, tzinfo=UTC)
VECTORS: list[dict[str, Any]] = json.loads(
    Path(__file__).with_name("dateutil_rrule_vectors.json").read_text(encoding="utf-8")
)["vectors"]
# Why the project refuses the other vectors: more than once a day, or parts RFC 5545 forbids with
# that FREQ (BYWEEKNO only YEARLY, BYYEARDAY not DAILY/WEEKLY/MONTHLY, BYMONTHDAY not WEEKLY,
# ordinal BYDAY only MONTHLY/YEARLY), dateutil's non-RFC BYEASTER, a rule that never occurs.
REFUSALS = (
    "at most one reminder a day",
    "takes one value here",
    "BYWEEKNO needs FREQ=YEARLY",
    "BYYEARDAY needs FREQ=YEARLY",
    "BYMONTHDAY cannot be used with FREQ=WEEKLY",
    "needs FREQ=MONTHLY or FREQ=YEARLY",
    "unknown rule part 'BYEASTER'",
    "never occurs",
)


def with_dtstart(found: list[datetime], rule: str, first_at: datetime) -> list[datetime]:
    """RFC 5545 3.8.5.3: DTSTART is the first occurrence (and counts towards COUNT) even when
    the rule does not produce it, unless UNTIL lies before it."""
    first = first_at.astimezone(UTC)
    parts = dict(part.split("=", 1) for part in rule.split(";"))
    if first in found or ("UNTIL" in parts and f"{first:%Y%m%dT%H%M%SZ}" > parts["UNTIL"]):
        return found
    found = [first, *found]
    return found[: int(parts["COUNT"])] if "COUNT" in parts else found


def reference(rule: str, first_at: datetime, *, limit: int) -> list[datetime]:
    """dateutil's occurrences as UTC instants, DTSTART first, at most `limit`."""
    found = [o.astimezone(UTC) for o in _take(du.rrulestr(rule, dtstart=first_at), limit + 1)]
    return with_dtstart(found, rule, first_at)[:limit]


def _take(rule: Any, limit: int) -> list[datetime]:
    found = []
    for occurrence in rule:
        found.append(occurrence)
        if len(found) >= limit:
            break
    return found


def ours(rule: str, first_at: datetime, tz: ZoneInfo, *, limit: int) -> list[datetime]:
    """This project's occurrences from first_at on."""
    return occurrences_between(
        first_at=first_at, rrule=rule, until=None, start=first_at, end=FAR, tz=tz, limit=limit
    )


def assert_next_occurrence_walks(
    rule: str, first_at: datetime, tz: ZoneInfo, found: list[datetime]
) -> None:
    """next_occurrence from each occurrence gives the following one."""
    for earlier, later in zip(found, found[1:], strict=False):
        following = next_occurrence(first_at=first_at, rrule=rule, until=None, after=earlier, tz=tz)
        assert following == later


# --- python-dateutil's own test vectors -----------------------------------------------------


def vector_id(vector: dict[str, Any]) -> str:
    return f"{vector['name']}:{vector['rule']}"


def with_utc_until(vector: dict[str, Any], tz: ZoneInfo) -> str:
    """The vector's rule with its local UNTIL as the UTC date-time RFC 5545 requires here."""
    if vector["until"] is None:
        return str(vector["rule"])
    until = datetime.fromisoformat(vector["until"]).replace(tzinfo=tz).astimezone(UTC)
    return f"{vector['rule']};UNTIL={until:%Y%m%dT%H%M%SZ}"


def test_the_vectors_were_extracted() -> None:
    assert len(VECTORS) > 200
    accepted = [v for v in VECTORS if _accepts(v["rule"])]
    assert len(accepted) >= 60
    assert {v["rule"].split(";")[0] for v in accepted} == {
        "FREQ=DAILY",
        "FREQ=WEEKLY",
        "FREQ=MONTHLY",
        "FREQ=YEARLY",
    }


def _accepts(rule: str) -> bool:
    try:
        validate_rrule(rule)
    except InvalidRecurrence:
        return False
    return True


@pytest.mark.parametrize("vector", VECTORS, ids=vector_id)
def test_dateutil_vector(vector: dict[str, Any]) -> None:
    try:
        validate_rrule(vector["rule"])
    except InvalidRecurrence as refused:
        assert any(reason in str(refused) for reason in REFUSALS), refused
        return
    for tz in ZONES:
        rule = with_utc_until(vector, tz)
        first_at = datetime.fromisoformat(vector["dtstart"]).replace(tzinfo=tz)
        listed = [datetime.fromisoformat(o).replace(tzinfo=tz) for o in vector["expected"]]
        # dateutil's own listing, with DTSTART first when the rule does not produce it.
        whole = first_at.replace(microsecond=0)
        expected = with_dtstart([o.astimezone(UTC) for o in listed], rule, whole)
        assert reference(rule, whole, limit=len(expected) + 5) == expected
        found = ours(rule, first_at, tz, limit=len(expected) + 5)
        # RFC 5545 times have whole seconds: dateutil drops a fraction of DTSTART, this project
        # keeps first_at's on every occurrence (testDTStartWithMicroseconds); seconds agree.
        assert [o.replace(microsecond=0) for o in found] == expected, (tz.key, rule)
        assert_next_occurrence_walks(rule, first_at, tz, found)


# --- RFC 5545 section 3.8.5.3 examples ------------------------------------------------------

# (DTSTART local wall time, RRULE) of every example in RFC 5545 3.8.5.3 that is at most daily,
# with the TZID America/New_York the RFC gives; UNTIL values are the RFC's own UTC ones.
RFC_EXAMPLES = [
    ("19970902T090000", "FREQ=DAILY;COUNT=10"),
    ("19970902T090000", "FREQ=DAILY;UNTIL=19971224T000000Z"),
    ("19970902T090000", "FREQ=DAILY;INTERVAL=2"),
    ("19970902T090000", "FREQ=DAILY;INTERVAL=10;COUNT=5"),
    ("19980101T090000", "FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA"),
    ("19980101T090000", "FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=10"),
    ("19970902T090000", "FREQ=WEEKLY;UNTIL=19971224T000000Z"),
    ("19970902T090000", "FREQ=WEEKLY;INTERVAL=2;WKST=SU"),
    ("19970902T090000", "FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH"),
    ("19970902T090000", "FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH"),
    ("19970901T090000", "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR"),
    ("19970902T090000", "FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH"),
    ("19970905T090000", "FREQ=MONTHLY;COUNT=10;BYDAY=1FR"),
    ("19970905T090000", "FREQ=MONTHLY;UNTIL=19971224T000000Z;BYDAY=1FR"),
    ("19970907T090000", "FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU"),
    ("19970922T090000", "FREQ=MONTHLY;COUNT=6;BYDAY=-2MO"),
    ("19970928T090000", "FREQ=MONTHLY;BYMONTHDAY=-3"),
    ("19970902T090000", "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15"),
    ("19970930T090000", "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1"),
    ("19970910T090000", "FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15"),
    ("19970902T090000", "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU"),
    ("19970610T090000", "FREQ=YEARLY;COUNT=10;BYMONTH=6,7"),
    ("19970310T090000", "FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3"),
    ("19970101T090000", "FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200"),
    ("19970519T090000", "FREQ=YEARLY;BYDAY=20MO"),
    ("19970512T090000", "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO"),
    ("19970313T090000", "FREQ=YEARLY;BYMONTH=3;BYDAY=TH"),
    ("19970605T090000", "FREQ=YEARLY;BYDAY=TH;BYMONTH=6,7,8"),
    ("19970913T090000", "FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13"),
    ("19961105T090000", "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8"),
    ("19970904T090000", "FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3"),
    ("19970929T090000", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2"),
    ("19970805T090000", "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO"),
    ("19970805T090000", "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU"),
    ("20070115T090000", "FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5"),
]
# The RFC's sub-daily examples (and the one with several BYHOUR values) are refused here.
RFC_REFUSED = [
    "FREQ=HOURLY;INTERVAL=3;UNTIL=19970902T170000Z",
    "FREQ=MINUTELY;INTERVAL=15;COUNT=6",
    "FREQ=MINUTELY;INTERVAL=90;COUNT=4",
    "FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40",
    "FREQ=MINUTELY;INTERVAL=20;BYHOUR=9,10,11,12,13,14,15,16",
]


@pytest.mark.parametrize(("dtstart", "rule"), RFC_EXAMPLES)
@pytest.mark.parametrize("tz", ZONES, ids=lambda tz: tz.key)
def test_rfc_5545_example(dtstart: str, rule: str, tz: ZoneInfo) -> None:
    first_at = datetime.strptime(dtstart, "%Y%m%dT%H%M%S").replace(tzinfo=tz)
    found = ours(rule, first_at, tz, limit=60)
    assert found == reference(rule, first_at, limit=60)
    assert_next_occurrence_walks(rule, first_at, tz, found)


@pytest.mark.parametrize("rule", RFC_REFUSED)
def test_rfc_5545_sub_daily_examples_are_refused(rule: str) -> None:
    with pytest.raises(InvalidRecurrence, match="at most one reminder a day|one value"):
        validate_rrule(rule)


def wall(tz: ZoneInfo, found: list[datetime]) -> list[str]:
    return [o.astimezone(tz).strftime("%Y-%m-%d %H:%M") for o in found]


def test_rfc_5545_published_lists() -> None:
    """A few of the RFC's listed results, written out, so the reference itself is checked."""
    new_york = ZoneInfo("America/New_York")
    invalid_date = ours(
        "FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5",
        datetime(2007, 1, 15, 9, tzinfo=new_york),
        new_york,
        limit=10,
    )
    # "an invalid date (i.e., February 30) is ignored"
    assert [d[:10] for d in wall(new_york, invalid_date)] == [
        "2007-01-15",
        "2007-01-30",
        "2007-02-15",
        "2007-03-15",
        "2007-03-30",
    ]
    start = datetime(1997, 8, 5, 9, tzinfo=new_york)
    monday = ours("FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO", start, new_york, limit=9)
    sunday = ours("FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU", start, new_york, limit=9)
    assert [d[8:10] for d in wall(new_york, monday)] == ["05", "10", "19", "24"]
    assert [d[8:10] for d in wall(new_york, sunday)] == ["05", "17", "19", "31"]
    election = ours(
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
        datetime(1996, 11, 5, 9, tzinfo=new_york),
        new_york,
        limit=3,
    )
    assert [d[:10] for d in wall(new_york, election)] == ["1996-11-05", "2000-11-07", "2004-11-02"]
    # 09:00 EDT until 26 October 1997, then 09:00 EST: the wall time stays, the instant moves.
    daily = ours(
        "FREQ=WEEKLY;COUNT=10", datetime(1997, 9, 2, 9, tzinfo=new_york), new_york, limit=10
    )
    assert {o.astimezone(new_york).hour for o in daily} == {9}
    assert {o.hour for o in daily} == {13, 14}


# --- dates and times that do not exist ------------------------------------------------------


@pytest.mark.parametrize("tz", ZONES, ids=lambda tz: tz.key)
def test_missing_dates_are_skipped_like_dateutil(tz: ZoneInfo) -> None:
    for dtstart, rule in [
        (datetime(2026, 1, 31, 9, tzinfo=tz), "FREQ=MONTHLY"),
        (datetime(2026, 1, 30, 9, tzinfo=tz), "FREQ=MONTHLY;INTERVAL=1"),
        (datetime(2024, 2, 29, 9, tzinfo=tz), "FREQ=YEARLY"),
        (datetime(2026, 1, 31, 9, tzinfo=tz), "FREQ=MONTHLY;BYMONTHDAY=31"),
        (datetime(2026, 1, 31, 9, tzinfo=tz), "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=-1"),
        (datetime(2026, 1, 5, 9, tzinfo=tz), "FREQ=MONTHLY;BYDAY=5MO"),
    ]:
        found = ours(rule, dtstart, tz, limit=40)
        assert found == reference(rule, dtstart, limit=40), rule


def test_a_wall_time_in_a_dst_gap_is_read_as_rfc_5545_3_3_5_says() -> None:
    """02:30 on 8 March 2026 does not exist in New York: it is 03:30 EDT, as dateutil has it."""
    new_york = ZoneInfo("America/New_York")
    first_at = datetime(2026, 3, 6, 2, 30, tzinfo=new_york)
    found = ours("FREQ=DAILY;COUNT=4", first_at, new_york, limit=10)
    assert found == reference("FREQ=DAILY;COUNT=4", first_at, limit=10)
    assert wall(new_york, found) == [
        "2026-03-06 02:30",
        "2026-03-07 02:30",
        "2026-03-08 03:30",
        "2026-03-09 02:30",
    ]
    # An ambiguous one (1 November, 01:30 happens twice) is the first, EDT.
    autumn = ours(
        "FREQ=DAILY;COUNT=2", datetime(2026, 10, 31, 1, 30, tzinfo=new_york), new_york, limit=2
    )
    assert autumn[1] == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


# --- bounds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY",
        "FREQ=DAILY;BYHOUR=23;BYMINUTE=59;BYSECOND=59",
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU",
        "FREQ=MONTHLY;BYMONTHDAY=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,"
        "25,26,27,28,29,30,31",
        "FREQ=YEARLY;BYYEARDAY=" + ",".join(str(d) for d in range(1, 367)),
    ],
)
def test_no_accepted_rule_occurs_more_than_once_a_day(rule: str) -> None:
    tz = ZONES[1]
    first_at = datetime(2028, 1, 1, 0, 0, tzinfo=tz)  # a leap year
    try:
        validate_rrule(rule)
    except InvalidRecurrence as refused:
        assert "longer than" in str(refused)
        return
    # From the day after first_at: first_at itself need not match the rule (BYHOUR=23 here).
    start = first_at + timedelta(days=1)
    year = occurrences_between(
        first_at=first_at,
        rrule=rule,
        until=None,
        start=start,
        end=start + timedelta(days=366),
        tz=tz,
    )
    assert len(year) <= MAX_PER_YEAR
    assert len({o.astimezone(tz).date() for o in year}) == len(year)
