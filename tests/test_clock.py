"""One clock: calendar time is read only through grassroots.clock, and "today" is local."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path

import time_machine

from grassroots import clock

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "services", "models", "geo", "notifications", "grassroots")
# The clock itself (test doubles live under tests/, outside the packages walked here).
ALLOWED = {Path("grassroots/clock.py")}
WALL_CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
}


def wall_clock_reads(source: str) -> list[str]:
    """Each `datetime.now()`-like call or `from time import time` in `source`, as text."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", None)
            if (name, node.func.attr) in WALL_CLOCK_CALLS:
                found.append(f"line {node.lineno}: {name}.{node.func.attr}()")
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            found += [
                f"line {node.lineno}: from time import {a.name}"
                for a in node.names
                if a.name in {"time", "time_ns"}
            ]
    return found


def test_the_checker_finds_each_kind_of_wall_clock_read():
    source = (
        "import datetime as dt\nfrom datetime import date, datetime\nimport time\n"
        "from time import time_ns\n"
        "a = datetime.now(UTC)\nb = date.today()\nc = time.time()\nd = dt.datetime.utcnow()\n"
        "e = time.monotonic()\n"
    )
    assert sorted(wall_clock_reads(source)) == [
        "line 4: from time import time_ns",
        "line 5: datetime.now()",
        "line 6: date.today()",
        "line 7: time.time()",
        "line 8: datetime.utcnow()",
    ]


def test_no_production_module_reads_the_wall_clock_but_the_clock():
    offenders = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative in ALLOWED or "migrations" in relative.parts:
                continue
            reads = wall_clock_reads(path.read_text(encoding="utf-8"))
            if reads:
                offenders[str(relative)] = reads
    assert offenders == {}, "call grassroots.clock.now()/today() instead"


def test_today_is_the_deployments_date_not_utcs():
    # 02:30 in Nantong on 2 December is still 1 December in UTC.
    with time_machine.travel(datetime(2026, 12, 1, 18, 30, tzinfo=UTC), tick=False):
        assert clock.now() == datetime(2026, 12, 1, 18, 30, tzinfo=UTC)
        assert clock.today() == date(2026, 12, 2)
    # 00:30 on 1 January in Beijing: a new year there, the old one in UTC.
    with time_machine.travel(datetime(2026, 12, 31, 16, 30, tzinfo=UTC), tick=False):
        assert clock.today() == date(2027, 1, 1)
        assert clock.now().date() == date(2026, 12, 31)


def test_now_is_aware_utc():
    moment = clock.now()
    assert moment.tzinfo is not None and moment.utcoffset().total_seconds() == 0
