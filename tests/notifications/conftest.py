"""Fixtures for push tests: a fake FCM server and service-account credentials that point at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from notifications.fcm import FcmSender
from tests.doubles.fake_fcm import FakeFcm


@pytest.fixture(scope="session")
def _fake_fcm_server() -> Iterator[FakeFcm]:
    """One fake FCM server for the whole run (starting uvicorn costs more than a reset)."""
    with FakeFcm() as fake:
        yield fake


@pytest.fixture
def fake_fcm(_fake_fcm_server: FakeFcm) -> Iterator[FakeFcm]:
    """The fake FCM server, up, with no messages, counters or scripted failures."""
    _fake_fcm_server.up()
    _fake_fcm_server.reset()
    yield _fake_fcm_server
    _fake_fcm_server.up()
    _fake_fcm_server.reset()


@pytest.fixture
def fcm_credentials(fake_fcm: FakeFcm, tmp_path: Path) -> Path:
    """Path of a service-account JSON whose key the fake trusts and whose token_uri is the fake."""
    return fake_fcm.write_service_account(tmp_path / "service-account.json")


@pytest.fixture
def service_account_path(fcm_credentials: Path) -> Path:
    """Alias of ``fcm_credentials``."""
    return fcm_credentials


@pytest.fixture
def fcm_sender(fake_fcm: FakeFcm, fcm_credentials: Path) -> Iterator[FcmSender]:
    """An FcmSender on the real SDK that talks to the fake over HTTP."""
    sender = FcmSender(credentials_path=str(fcm_credentials), endpoint=fake_fcm.base_url)
    yield sender
    sender.close()
