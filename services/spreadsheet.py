"""CSV exports that Excel opens with Chinese intact, written one way for every report."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

# A text cell starting with one of these is evaluated as a formula by Excel (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def excel_csv(*, rows: Iterable[Sequence[object]]) -> bytes:
    """UTF-8 with a byte-order mark and CRLF rows; `[]` is an empty separator row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([excel_cell(value) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def excel_cell(value: object) -> str:
    """One cell: times in UTC with Z, text neutralised against formulas, numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_STARTS) else value
    return str(value)
