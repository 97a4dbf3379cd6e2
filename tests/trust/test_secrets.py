"""No usable default secret: a quick-start deployment makes its own key, keeps it beside the
database (0600) and never accepts the published development value."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest

from grassroots.settings import (
    DEVELOPMENT_SECRET,
    InsecureSettings,
    Settings,
    derive_identity_secret,
    key_file_for,
    load_or_create_key_file,
)

ROOT = Path(__file__).resolve().parents[2]


def _env(database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"GRASSROOTS_SECRET_KEY"}}
    return env | {
        "GRASSROOTS_DATABASE_URL": f"sqlite://{database}",
        "GRASSROOTS_LOG_LEVEL": "INFO",
        "GRASSROOTS_LOGIN_ADDRESS_FREE_FAILURES": "3",
    }


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(
    url: str, token: str | None = None, data: bytes | None = None, forwarded: str | None = None
) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data)
    if forwarded:
        request.add_header("X-Forwarded-For", forwarded)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class Served:
    """`grassroots serve` as the README starts it, without GRASSROOTS_SECRET_KEY."""

    def __init__(self, database: Path, log: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "grassroots.cli", "serve", "--port", str(self.port),
             "--no-worker"],
            cwd=ROOT,
            env=_env(database),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)
        self.log.close()


def test_quick_start_makes_its_own_key_and_refuses_the_development_one(tmp_path):
    from tests.conftest import SERVER_LOGS

    database = tmp_path / "grassroots.db"
    log = tmp_path / "server.log"
    SERVER_LOGS.append(log)
    made = subprocess.run(
        [sys.executable, "-m", "grassroots.cli", "create-admin", "root"],
        input="a-strong-password\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(database),
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    key_file = key_file_for(database)
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert len(key) >= 32
    # Said once, where it was made, and the key itself never.
    assert made.stderr.count("generated a signing key") == 1
    assert key not in made.stdout + made.stderr

    server = Served(database, log)
    try:
        status, body = _request(
            f"{server.base}/api/v1/auth/token", data=b"username=root&password=a-strong-password"
        )
        assert status == 200, body
        import json

        access = json.loads(body)["access_token"]
        status, me = _request(f"{server.base}/api/v1/me", access)
        assert status == 200
        admin_id = json.loads(me)["id"]
        forged = jwt.encode(
            {"sub": admin_id, "typ": "access", "exp": int(datetime.now(UTC).timestamp()) + 600,
             "ver": 0, "jti": uuid.uuid4().hex},
            DEVELOPMENT_SECRET,
            algorithm="HS256",
        )  # fmt: skip
        assert _request(f"{server.base}/api/v1/users", forged)[0] == 401
        assert _request(f"{server.base}/api/v1/audit", forged)[0] == 401
        assert _request(f"{server.base}/api/v1/users", access)[0] == 200
        # Served as the README serves it, a client's own X-Forwarded-For is not believed (no
        # GRASSROOTS_TRUSTED_PROXIES): every guess counts on the real peer address.
        answers = [
            _request(
                f"{server.base}/api/v1/auth/token",
                data=f"username=ghost{n}&password=bad".encode(),
                forwarded=f"203.0.113.{n}",
            )[0]
            for n in range(4)
        ]
        assert answers == [401, 401, 401, 429]
    finally:
        server.stop()
    # A restart reads the same key: the tokens issued before it still work.
    server = Served(database, log)
    try:
        assert _request(f"{server.base}/api/v1/users", access)[0] == 200
        assert _request(f"{server.base}/api/v1/users", forged)[0] == 401
    finally:
        server.stop()
    assert key_file.read_text().strip() == key
    text = log.read_text()
    assert "generated a signing key" not in text and key not in text


def test_the_development_value_is_refused_on_sqlite_too(tmp_path):
    settings = Settings(database_url=f"sqlite://{tmp_path / 'x.db'}", secret_key=DEVELOPMENT_SECRET)
    with pytest.raises(InsecureSettings, match="published development value"):
        settings.prepare_secrets()
    with pytest.raises(InsecureSettings):
        settings.signing_keys()
    earlier = Settings(
        database_url=f"sqlite://{tmp_path / 'x.db'}",
        secret_key="a-private-key-0123456789-abcdefghijkl",
        previous_secret_keys=DEVELOPMENT_SECRET,
    )
    with pytest.raises(InsecureSettings, match="GRASSROOTS_PREVIOUS_SECRET_KEYS"):
        earlier.prepare_secrets()
    assert DEVELOPMENT_SECRET not in earlier.signing_keys()


def test_off_sqlite_a_missing_key_refuses_to_start():
    # secret_key=None stands for the variable being unset (the test run sets one).
    settings = Settings(
        database_url="postgres://postgres@127.0.0.1:5432/never_used", secret_key=None
    )
    with pytest.raises(InsecureSettings, match="must be set"):
        settings.prepare_secrets()


def test_an_unprepared_settings_object_signs_nothing(tmp_path):
    settings = Settings(database_url=f"sqlite://{tmp_path / 'x.db'}", secret_key=None)
    with pytest.raises(InsecureSettings):
        settings.signing_keys()
    with pytest.raises(InsecureSettings):
        settings.identity_secret()


def test_the_key_file_is_made_once_by_concurrent_starters(tmp_path):
    path = tmp_path / "db" / "grassroots.db.secret-key"
    keys: list[str] = []
    threads = [
        threading.Thread(target=lambda: keys.append(load_or_create_key_file(path)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and len(keys) == 8
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_a_key_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "grassroots.db.secret-key"
    load_or_create_key_file(path)
    path.chmod(0o644)
    with pytest.raises(InsecureSettings, match="readable by others"):
        load_or_create_key_file(path)


def test_the_identity_key_follows_the_generated_key(tmp_path):
    settings = Settings(database_url=f"sqlite://{tmp_path / 'x.db'}", secret_key=None)
    settings.prepare_secrets()
    generated = settings.signing_keys()[0]
    assert settings.identity_secret() == derive_identity_secret(generated)
    assert settings.identity_secret() != derive_identity_secret(DEVELOPMENT_SECRET)
    explicit = Settings(
        database_url=f"sqlite://{tmp_path / 'x.db'}",
        secret_key=None,
        identity_key="an-explicit-identity-key-123",
    )
    explicit.prepare_secrets()
    # GRASSROOTS_IDENTITY_KEY, when set, is used as it is (the README's rotation advice holds).
    assert explicit.identity_secret() == "an-explicit-identity-key-123"


@pytest.mark.skipif(
    bool(os.environ.get("GRASSROOTS_TEST_DATABASE_URL")),
    reason="only SQLite deployments ever ran on the development key",
)
async def test_numbers_stored_under_the_development_key_are_re_encrypted(
    client, make_unit, make_user, auth, settings
):
    from models.social import Client, ClientCategory, RiskLevel
    from services.identity import IdentityCipher, InvalidCiphertext, check_character
    from services.security import rekey_development_identity_numbers
    from services.social.clients import identity_cipher

    unit = await make_unit()
    admin = await make_user("admin", unit=unit)
    body17 = "32060219800101123"
    number = body17 + check_character(body17)
    legacy = IdentityCipher(derive_identity_secret(DEVELOPMENT_SECRET))
    stored = await Client.create(
        full_name="旧数据",
        category=ClientCategory.released_prisoner,
        address="崇川区",
        risk_level=RiskLevel.low,
        org_unit=unit,
        org_path=unit.path,
        id_number_cipher=legacy.encrypt(number),
        id_number_hash=legacy.search_hash(number),
        id_number_masked="3206**********" + number[-4:],
    )
    assert await rekey_development_identity_numbers(settings=settings) == 1
    fresh = await Client.get(id=stored.id)
    assert identity_cipher(settings).decrypt(fresh.id_number_cipher) == number
    with pytest.raises(InvalidCiphertext):
        legacy.decrypt(fresh.id_number_cipher)
    # Searchable under the current key (the search hash is redone too). Not through the API:
    # the client library would log the number in the query string.
    assert fresh.id_number_hash == identity_cipher(settings).search_hash(number)
    reader = await client.get(f"/clients/{stored.id}", headers=auth(admin))
    assert reader.status_code == 200
    assert await rekey_development_identity_numbers(settings=settings) == 0
