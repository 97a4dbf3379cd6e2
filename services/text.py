"""The rule every stored text follows: no NUL, no lone surrogate (neither survives a database)."""

from __future__ import annotations

import re
from typing import Final

from grassroots.messages import register_messages

register_messages(
    {
        "invalid_text": (
            "文本不能包含 NUL 或孤立的代理字符",
            "Text must not hold NUL or a lone surrogate",
        ),
        "invalid_time": (
            "时间须为带时区偏移的 RFC 3339 字符串",
            "A time must be an RFC 3339 string with an offset",
        ),
        "time_out_of_range": (
            "时间须在 1900 年至 2200 年之间",
            "A time must lie between the years 1900 and 2200",
        ),
        "invalid_date": ("日期须为 YYYY-MM-DD 字符串", "A date must be a string YYYY-MM-DD"),
        "date_out_of_range": (
            "日期须在 1900 年至 2200 年之间",
            "A date must lie between 1900-01-01 and 2200-12-31",
        ),
        "invalid_month": ("月份须为 YYYY-MM", "A month must be YYYY-MM"),
        "integer_out_of_range": ("整数超出范围（±2^53）", "An integer must lie within ±2^53"),
    }
)

# NUL ends a C string (PostgreSQL refuses it in text); a lone UTF-16 surrogate (JSON `\ud800`)
# has no UTF-8 form, so encoding it for the database or a response raises.
_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")


def is_clean_text(value: str) -> bool:
    """True when the text holds neither NUL nor a lone surrogate."""
    return _UNSTORABLE.search(value) is None
