"""The one CSV writer: BOM, CRLF, Chinese intact, formulas neutralised, numbers untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from services.spreadsheet import excel_csv


def test_bom_crlf_and_chinese():
    data = excel_csv(rows=[["区域", "濠河"], [], ["a", 1]])
    assert data.startswith("\ufeff".encode())
    assert data.decode("utf-8-sig") == "区域,濠河\r\n\r\na,1\r\n"


def test_formula_text_is_neutralised_but_numbers_are_not():
    text = excel_csv(rows=[["=HYPERLINK(1)", "+1", "-x", "@a", -3.5, 120.9, None]]).decode(
        "utf-8-sig"
    )
    assert text == "'=HYPERLINK(1),'+1,'-x,'@a,-3.5,120.9,\r\n"


def test_times_in_utc_with_z():
    shanghai = timezone(timedelta(hours=8))
    at = datetime(2026, 11, 27, 8, 0, tzinfo=shanghai)
    assert excel_csv(rows=[[at]]).decode("utf-8-sig") == "2026-11-27T00:00:00Z\r\n"
    assert at.astimezone(UTC).hour == 0
