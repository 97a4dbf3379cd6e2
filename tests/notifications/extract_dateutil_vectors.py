"""Extract python-dateutil's own rrule test vectors into dateutil_rrule_vectors.json.

Run it on dateutil's tests/test_rrule.py (github.com/dateutil/dateutil, Apache-2.0 / BSD-3):

    .venv/bin/python tests/notifications/extract_dateutil_vectors.py path/to/test_rrule.py

Every `self.assertEqual(list(rrule(FREQ, ...)), [datetime(...), ...])` whose arguments are literals
becomes {"name", "rule", "dtstart", "until", "expected"}: the rule in RFC 5545 text without UNTIL,
UNTIL as a naive local time (the test turns it into UTC for each time zone), and the expected
occurrences as naive local times, exactly as dateutil's tests list them. Sub-daily frequencies,
BYEASTER and the like are kept too: the test checks that this project refuses them.
"""

from __future__ import annotations

import ast
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("dateutil_rrule_vectors.json")
FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
PARTS = {
    "count": "COUNT",
    "interval": "INTERVAL",
    "bysetpos": "BYSETPOS",
    "bymonth": "BYMONTH",
    "bymonthday": "BYMONTHDAY",
    "byyearday": "BYYEARDAY",
    "byweekno": "BYWEEKNO",
    "byhour": "BYHOUR",
    "byminute": "BYMINUTE",
    "bysecond": "BYSECOND",
    "byeaster": "BYEASTER",
}


class Unsupported(Exception):
    """A call this extractor does not translate (not a literal, another API)."""


def _datetime(node: ast.expr) -> str:
    if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "datetime"):
        raise Unsupported("not a datetime(...)")
    if node.keywords:
        raise Unsupported("datetime with keywords (tzinfo)")
    return datetime(*(ast.literal_eval(a) for a in node.args)).isoformat()


def _weekday(node: ast.expr) -> str:
    if isinstance(node, ast.Name) and node.id in WEEKDAYS:
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return WEEKDAYS[node.value]
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) in WEEKDAYS:
        (ordinal,) = node.args
        return f"{ast.literal_eval(ordinal):+d}{node.func.id}".lstrip("+")  # type: ignore[union-attr]
    raise Unsupported("weekday")


def _values(node: ast.expr, convert: Any) -> str:
    items = node.elts if isinstance(node, ast.Tuple | ast.List) else [node]
    return ",".join(str(convert(item)) for item in items)


def _rule(call: ast.Call) -> dict[str, Any]:
    if getattr(call.func, "id", None) != "rrule" or len(call.args) != 1:
        raise Unsupported("not rrule(FREQ, ...)")
    frequency = getattr(call.args[0], "id", None)
    if frequency not in FREQUENCIES:
        raise Unsupported("frequency")
    parts = [f"FREQ={frequency}"]
    dtstart = until = None
    for keyword in call.keywords:
        name, value = keyword.arg, keyword.value
        if name == "dtstart":
            dtstart = _datetime(value)
        elif name == "until":
            until = _datetime(value)
        elif name == "wkst":
            parts.append(f"WKST={_weekday(value)}")
        elif name == "byweekday":
            parts.append(f"BYDAY={_values(value, _weekday)}")
        elif name in PARTS:
            parts.append(f"{PARTS[name]}={_values(value, ast.literal_eval)}")
        elif name == "cache":
            continue
        else:
            raise Unsupported(f"keyword {name}")
    if dtstart is None:
        raise Unsupported("no dtstart")
    return {"rule": ";".join(parts), "dtstart": dtstart, "until": until}


def extract(source: str) -> list[dict[str, Any]]:
    """The vectors of one test_rrule.py, in file order."""
    vectors: list[dict[str, Any]] = []
    for function in ast.walk(ast.parse(source)):
        if not (isinstance(function, ast.FunctionDef) and function.name.startswith("test")):
            continue
        for node in ast.walk(function):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "assertEqual"
                and len(node.args) == 2
            ):
                continue
            actual, expected = node.args
            if not (
                isinstance(actual, ast.Call)
                and getattr(actual.func, "id", None) == "list"
                and len(actual.args) == 1
                and isinstance(actual.args[0], ast.Call)
                and isinstance(expected, ast.List)
            ):
                continue
            try:
                vector = _rule(actual.args[0])
                vector["expected"] = [_datetime(item) for item in expected.elts]
            except (Unsupported, ValueError, TypeError, IndexError):
                continue
            vectors.append({"name": function.name, **vector})
    return vectors


def main() -> None:
    """Write the JSON file beside this script."""
    vectors = extract(Path(sys.argv[1]).read_text(encoding="utf-8"))
    document = {
        "source": "https://github.com/dateutil/dateutil/blob/master/tests/test_rrule.py",
        "license": "Apache-2.0 OR BSD-3-Clause (python-dateutil)",
        "vectors": vectors,
    }
    OUTPUT.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    sys.stderr.write(f"{len(vectors)} vectors written to {OUTPUT}\n")


if __name__ == "__main__":
    main()
