"""The rule every stored text follows: no NUL, no lone surrogate (neither survives a database)."""

from __future__ import annotations

import re
from typing import Final

from services.messages import register_messages

register_messages(
    {
        "invalid_text": (
            "文本不能包含 NUL 或孤立的代理字符",
            "Text must not hold NUL or a lone surrogate",
        )
    }
)

# NUL ends a C string (PostgreSQL refuses it in text); a lone UTF-16 surrogate (JSON `\ud800`)
# has no UTF-8 form, so encoding it for the database or a response raises.
_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")


def is_clean_text(value: str) -> bool:
    """True when the text holds neither NUL nor a lone surrogate."""
    return _UNSTORABLE.search(value) is None
