"""Every error is problem+json with a stable code, in Chinese by default and English on request."""

from __future__ import annotations

from typing import Any

import pytest

from api.problems import language_of
from models.org import OrgUnit, Role


@pytest.fixture
async def admin(make_unit, make_user):
    unit = await make_unit("南通市")
    return await make_user(Role.admin, unit=unit)


def assert_problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys()
    assert body["status"] == status and body["code"] == code
    assert_language_headers(r)
    return body


def assert_language_headers(r):
    """`detail` follows Accept-Language, so the answer says so to caches and names its language."""
    vary = [v.strip().lower() for v in r.headers.get("vary", "").split(",")]
    assert vary.count("accept-language") == 1, r.headers
    expected = {"en": "en", "zh": "zh-CN"}[language_of(r.request.headers.get("accept-language"))]
    assert r.headers["content-language"] == expected


async def test_unknown_route_is_a_problem(client):
    body = assert_problem(await client.get("/no/such/thing"), 404, "route_not_found")
    assert body["detail"] == "接口不存在"


async def test_english_on_request(client):
    body = assert_problem(
        await client.get("/no/such/thing", headers={"Accept-Language": "en-US,en;q=0.9"}),
        404,
        "route_not_found",
    )
    assert body["detail"] == "No such endpoint"


async def test_chinese_preferred_over_english_by_quality(client):
    r = await client.get("/no/such/thing", headers={"Accept-Language": "en;q=0.5, zh-CN;q=0.9"})
    assert r.json()["detail"] == "接口不存在"


async def test_wrong_method_is_405(client, admin, auth):
    assert_problem(await client.delete("/me", headers=auth(admin)), 405, "method_not_allowed")


async def test_malformed_json_is_422(client, admin, auth):
    r = await client.post(
        "/org-units",
        content=b'{"name": ',
        headers=auth(admin) | {"Content-Type": "application/json"},
    )
    assert_problem(r, 422, "malformed_json")


async def test_validation_errors_name_each_field(client, admin, auth):
    r = await client.post(
        "/org-units", json={"name": "", "parent_id": "not-a-uuid", "x": 1}, headers=auth(admin)
    )
    body = assert_problem(r, 422, "validation_error")
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert ("body", "name") in locs and ("body", "parent_id") in locs and ("body", "x") in locs
    assert all(set(e) == {"loc", "msg"} for e in body["errors"])


@pytest.mark.parametrize(
    "body",
    [
        {},  # missing field
        {"name": 5},  # wrong type
        {"name": "x" * 101},  # over its bound
        {"name": "ok", "parent_id": None, "extra": True},  # extra field
        [],  # not an object
    ],
)
async def test_bad_bodies_store_nothing(client, admin, auth, body):
    before = await OrgUnit.all().count()
    r = await client.post("/org-units", json=body, headers=auth(admin))
    assert r.status_code == 422
    assert await OrgUnit.all().count() == before


async def test_validation_error_does_not_echo_the_input(client, admin, auth):
    r = await client.post(
        "/users",
        json={
            "username": "x",
            "password": "secret-password-123",
            "full_name": 1,
            "roles": ["patrol"],
            "org_unit_id": "nope",
        },
        headers=auth(admin),
    )
    assert r.status_code == 422
    assert "secret-password-123" not in r.text


async def test_naive_time_is_422(client, admin, auth):
    r = await client.get(
        "/users", params={"updated_since": "2026-11-01T08:00:00"}, headers=auth(admin)
    )
    assert_problem(r, 422, "invalid_time")
    r = await client.get(
        "/users", params={"updated_since": "2026-11-01T08:00:00+08:00"}, headers=auth(admin)
    )
    assert r.status_code == 200


async def test_limit_is_bounded(client, admin, auth):
    assert (
        await client.get("/users", params={"limit": 501}, headers=auth(admin))
    ).status_code == 422
    assert (await client.get("/users", params={"limit": 0}, headers=auth(admin))).status_code == 422
    assert (
        await client.get("/users", params={"limit": 500}, headers=auth(admin))
    ).status_code == 200


async def test_garbage_cursor_is_a_problem_not_a_crash(client, admin, auth):
    r = await client.get("/users", params={"cursor": "@@@"}, headers=auth(admin))
    assert_problem(r, 422, "invalid_cursor")


async def test_body_over_one_mebibyte_is_413(client, admin, auth):
    big = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    r = await client.post(
        "/org-units", content=big, headers=auth(admin) | {"Content-Type": "application/json"}
    )
    assert_problem(r, 413, "body_too_large")
    assert await OrgUnit.filter(name__startswith="xxx").count() == 0


async def test_streamed_body_over_the_limit_is_413(client, admin, auth):
    async def chunks():
        for _ in range(20):
            yield b"x" * (64 * 1024)

    r = await client.post(
        "/org-units", content=chunks(), headers=auth(admin) | {"Content-Type": "application/json"}
    )
    assert_problem(r, 413, "body_too_large")


async def test_an_unexpected_error_is_a_bare_500_problem(app, client, admin, auth, monkeypatch):
    from services import org

    async def explode(**_kw):
        raise RuntimeError("SELECT secret FROM somewhere")

    monkeypatch.setattr(org, "create_org_unit", explode)
    r = await client.post("/org-units", json={"name": "x"}, headers=auth(admin))
    body = assert_problem(r, 500, "internal_error")
    assert (
        "SELECT" not in r.text
        and "Traceback" not in r.text
        and "RuntimeError" not in body["detail"]
    )


async def test_database_connection_failure_is_503(client, admin, auth, monkeypatch):
    from tortoise.exceptions import DBConnectionError

    from services import org

    async def down(**_kw):
        raise DBConnectionError("could not connect to server at 10.0.0.1")

    monkeypatch.setattr(org, "create_org_unit", down)
    r = await client.post("/org-units", json={"name": "x"}, headers=auth(admin))
    assert_problem(r, 503, "database_unavailable")
    assert "10.0.0.1" not in r.text


async def test_times_at_the_ends_of_the_calendar_are_422_not_500(client, admin, auth):
    for since in ("0001-01-01T01:00:00+01:08", "9999-12-31T23:59:59-05:00"):
        r = await client.get("/users", params={"updated_since": since}, headers=auth(admin))
        assert_problem(r, 422, "time_out_of_range")


@pytest.mark.parametrize(
    ("accept_language", "content_language", "detail"),
    [
        (None, "zh-CN", "接口不存在"),
        ("en", "en", "No such endpoint"),
        ("en-GB,en;q=0.8", "en", "No such endpoint"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN", "接口不存在"),
        ("fr", "zh-CN", "接口不存在"),
    ],
)
async def test_problems_vary_on_accept_language_and_name_their_language(
    client, accept_language, content_language, detail
):
    headers = {"Accept-Language": accept_language} if accept_language else {}
    r = await client.get("/no/such/thing", headers=headers)
    assert r.json()["detail"] == detail
    assert r.headers["content-language"] == content_language
    assert r.headers["vary"] == "Accept-Language"


async def test_every_kind_of_problem_carries_the_language_headers(client, admin, auth):
    answers = [
        await client.get("/me"),  # 401 from the auth dependency
        await client.get("/me", headers={"Authorization": "Bearer nonsense"}),
        await client.get("/users/not-a-uuid", headers=auth(admin) | {"Accept-Language": "en"}),
        await client.post("/org-units", json={}, headers=auth(admin)),
        await client.post(
            "/org-units",
            content=b"x" * (1024 * 1024 + 1),
            headers=auth(admin) | {"Content-Type": "application/json", "Accept-Language": "en"},
        ),
    ]
    assert [r.status_code for r in answers] == [401, 401, 404, 422, 413]
    for r in answers:
        assert r.headers["content-type"].startswith("application/problem+json")
        assert_language_headers(r)
    # Headers an error already had are kept beside the new ones.
    assert answers[0].headers["www-authenticate"].lower().startswith("bearer")


async def test_answers_whose_text_does_not_depend_on_the_language_do_not_vary(client, admin, auth):
    for language in ("en", "zh-CN"):
        r = await client.get("/me", headers=auth(admin) | {"Accept-Language": language})
        assert r.status_code == 200
        assert "accept-language" not in r.headers.get("vary", "").lower()
        assert "content-language" not in r.headers


async def test_the_spec_documents_the_language_headers_of_problems(client):
    spec = (await client.get("http://test/openapi.json")).json()
    assert set(spec["components"]["headers"]) == {"Content-Language", "Vary"}
    for path, item in spec["paths"].items():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if "application/problem+json" in response.get("content", {}):
                    assert set(response["headers"]) >= {"Content-Language", "Vary"}, (path, status)


@pytest.mark.parametrize(
    ("announced", "chunks", "read_before_answer"),
    [
        # Announced or streamed, a body within the drain bound is read to its end first: a
        # connection closed with unread bytes is reset, and the client never sees the 413.
        (True, 5, 5),
        (False, 5, 5),
        # Far beyond it, it is cut off: announced, unread; streamed, once the bound is reached.
        (True, 20, 0),
        (False, 20, 8),
    ],
)
async def test_a_refused_body_is_read_before_the_413_up_to_a_bound(
    announced: bool, chunks: int, read_before_answer: int
) -> None:
    from api.middleware import BodyLimitMiddleware

    size = 1000
    messages = [
        {"type": "http.request", "body": b"x" * size, "more_body": n < chunks - 1}
        for n in range(chunks)
    ]
    read: list[dict] = []
    answered_after: list[int] = []

    async def receive() -> dict:
        message = messages[len(read)]
        read.append(message)
        return message

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 413
            answered_after.append(len(read))

    async def app(scope: dict, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        raise AssertionError("the app must not see an oversized body to its end")

    headers = [(b"content-length", str(size * chunks).encode())] if announced else []
    middleware = BodyLimitMiddleware(app, max_bytes=2 * size)
    await middleware({"type": "http", "headers": headers}, receive, send)
    assert answered_after == [read_before_answer]
