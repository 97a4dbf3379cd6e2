"""GRASSROOTS_TEST_AT: run the whole test session, and every Python process it starts, from
another instant.

Debian's faketime cannot serve: it moves CLOCK_MONOTONIC too, and then Python's timed thread
waits never return. time-machine moves only the wall clock (`datetime.now`, `date.today`,
`time.time`), so timeouts, sleeps and the event loop keep real durations, and the clock runs on
from the chosen instant. Servers and commands the tests start inherit the same offset through
`tests/clock_site/sitecustomize.py`, which Python imports at start-up from PYTHONPATH.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

TEST_AT = "GRASSROOTS_TEST_AT"
OFFSET = "GRASSROOTS_TEST_CLOCK_OFFSET_S"
SITE = Path(__file__).resolve().parent / "clock_site"


def parse_instant(text: str) -> datetime:
    """An RFC 3339 instant with its offset; a naive one is refused (which zone would it be?)."""
    instant = datetime.fromisoformat(text.strip())
    if instant.tzinfo is None:
        raise ValueError(f"{TEST_AT} needs an offset or Z, e.g. 2026-12-01T18:30:00Z: {text!r}")
    return instant


def travel_by(offset_s: float) -> None:
    """Move this process's wall clock by `offset_s` seconds from now on; it keeps ticking."""
    import time_machine

    time_machine.travel(time.time() + offset_s, tick=True).start()


def start_from_env() -> datetime | None:
    """Travel to GRASSROOTS_TEST_AT (if set) and hand the offset on to child processes."""
    text = os.environ.get(TEST_AT)
    if not text:
        return None
    instant = parse_instant(text)
    offset_s = instant.timestamp() - time.time()
    os.environ[OFFSET] = repr(offset_s)
    paths = [str(SITE), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    travel_by(offset_s)
    return instant
