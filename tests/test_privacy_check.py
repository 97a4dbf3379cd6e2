"""The run-wide privacy check (tests/conftest.py) recognises what it must never see in logs."""

from __future__ import annotations

from tests.conftest import SENSITIVE_PATTERNS


def test_patterns_catch_identity_and_mobile_numbers():
    ident, mobile = SENSITIVE_PATTERNS["identity number"], SENSITIVE_PATTERNS["mobile number"]
    assert ident.search("client 11010519491231002X visited")
    assert ident.search("id=32060219800101123x")
    assert mobile.search("call 13812345678 now")
    assert not ident.search("masked 3206**********123X")
    assert not mobile.search("masked 138****5678")
    assert not ident.search("uuid 6f1c2a9e-0d4b-4c59-9a55-0e4f0b8a1c77")
