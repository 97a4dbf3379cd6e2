"""A client generated with openapi-python-client from the committed spec is whole and works.

Whole: one module per operation (under its tag), every 2xx answer parsed into its model, no
generator warning, and the package passes mypy --strict. Works: a field-app day driven through
the generated code only, against a real uvicorn server on a seeded database (SQLite, or
PostgreSQL when GRASSROOTS_TEST_DATABASE_URL is set), with the worker in-process and pushes going
to a fake FCM server.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import time
import typing
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.contract.conftest import CLIENT_PACKAGE, GeneratedClient
from tests.doubles.fake_fcm import FakeFcm
from tests.fuzz.conftest import _fuzz_server
from tests.patrol.world import ZONE_GEOJSON, checkpoint_a, make_track

METHODS = {"get", "put", "post", "delete", "patch"}
DEMO_PASSWORD = "fuzz-demo-password"  # what tests/fuzz/conftest.py seeds the demo users with


def _snake(tag: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", tag.lower()).strip("_")


def test_the_generator_warns_about_nothing(generated_client: GeneratedClient):
    assert not generated_client.warnings, "\n".join(generated_client.warnings)


def test_every_operation_has_its_module(generated_client: GeneratedClient, committed_spec):
    expected = {
        (_snake(op["tags"][0]), op["operationId"])
        for item in committed_spec["paths"].values()
        for method, op in item.items()
        if method in METHODS
    }
    api = generated_client.package / "api"
    generated = {
        (module.parent.name, module.stem)
        for module in api.glob("*/*.py")
        if module.stem != "__init__"
    }
    assert expected - generated == set(), "operations the generator skipped"
    assert generated - expected == set(), "modules for no operation"


def _parsed_types(module: Any) -> set[str]:
    """Names of what `sync_detailed` of a generated module parses its answers into."""
    answer = typing.get_type_hints(module.sync_detailed)["return"]  # Response[A | B | ...]
    parsed = typing.get_args(answer)[0]
    members = typing.get_args(parsed) or (parsed,)
    return {getattr(t, "__name__", str(t)) for t in members}


def _has_shape(schema: dict[str, Any] | None) -> bool:
    """A schema a generator can make a model of (`{}`, "any JSON", has nothing to model)."""
    shaping = {"$ref", "type", "anyOf", "oneOf", "allOf", "items", "properties"}
    return bool(schema) and bool(shaping & set(schema))


def test_every_success_answer_has_its_model(generated_client: GeneratedClient, committed_spec):
    """An operation whose 2xx answer has a JSON schema parses it into something besides Problem.

    (Two answers declare no schema at all, `GET /readyz` and the JSON-or-CSV zone report: they
    parse into Any, as the spec says; they are the routers' to type, not the generator's to drop.)
    """
    dropped = []
    for path, item in committed_spec["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            success = [
                code
                for code, answer in op["responses"].items()
                if code.startswith("2")
                and _has_shape(answer.get("content", {}).get("application/json", {}).get("schema"))
            ]
            if not success:
                continue
            tag, name = _snake(op["tags"][0]), op["operationId"]
            file = generated_client.package / "api" / tag / f"{name}.py"
            if not file.exists():
                dropped.append(f"{method.upper()} {path}: not generated at all")
                continue
            module = importlib.import_module(f"{CLIENT_PACKAGE}.api.{tag}.{name}")
            models = _parsed_types(module) - {"Problem", "NoneType", "Any"}
            source = file.read_text(encoding="utf-8")
            unparsed = [c for c in success if f"response.status_code == {c}:" not in source]
            if not models or unparsed:
                dropped.append(f"{method.upper()} {path}: models {models}, unparsed {unparsed}")
    assert not dropped, "\n".join(dropped)


def test_the_generated_package_passes_mypy_strict(generated_client: GeneratedClient):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(generated_client.path / ".mypy_cache"),
            "--python-version",
            "3.11",
            CLIENT_PACKAGE,
        ],
        cwd=generated_client.path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


# --- a field-app day through the generated client --------------------------------------------


@pytest.fixture(scope="module")
def field_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real server with its worker in-process, pushing to a fake FCM server on loopback."""
    with FakeFcm() as fcm:
        credentials = fcm.write_service_account(
            tmp_path_factory.mktemp("fcm") / "service-account.json"
        )
        extra = {
            "GRASSROOTS_INPROCESS_WORKER": "1",
            "GRASSROOTS_FCM_CREDENTIALS": str(credentials),
            "GRASSROOTS_FCM_ENDPOINT": fcm.base_url,
            "GRASSROOTS_WORKER_POLL_S": "0.2",
            # The suite may run at 02:30 local: the reminder must not wait for morning.
            "GRASSROOTS_QUIET_HOURS": "",
        }
        for server in _fuzz_server(tmp_path_factory, "contract", extra_env=extra):
            yield server | {"fcm": fcm}


class Generated:
    """Calls operations of the generated client by tag and operation id, checking the status."""

    def __init__(self, base_url: str) -> None:
        self.package = importlib.import_module(CLIENT_PACKAGE)
        self.models = importlib.import_module(f"{CLIENT_PACKAGE}.models")
        self.base_url = base_url

    def anonymous(self) -> Any:
        return self.package.Client(base_url=self.base_url, raise_on_unexpected_status=True)

    def signed_in(self, username: str) -> Any:
        """Sign in with the password flow, as the apps do, and hold the access token."""
        form = self.models.BodyAuthToken(username=username, password=DEMO_PASSWORD)
        tokens = self.call("auth", "auth_token", 200, client=self.anonymous(), body=form)
        assert tokens.token_type == "bearer" and tokens.expires_in > 0
        return self.package.AuthenticatedClient(
            base_url=self.base_url, token=tokens.access_token, raise_on_unexpected_status=True
        )

    def call(self, tag: str, operation: str, status: int, **kwargs: Any) -> Any:
        module = importlib.import_module(f"{CLIENT_PACKAGE}.api.{tag}.{operation}")
        response = module.sync_detailed(**kwargs)
        assert response.status_code == status, (operation, response.status_code, response.content)
        return response.parsed


def _wait_for(predicate: Any, *, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
def test_a_field_day_through_the_generated_client(
    generated_client: GeneratedClient, field_server: dict[str, Any]
):
    api = Generated(field_server["url"])
    m = api.models
    now = datetime.now(UTC).replace(microsecond=0)

    # --- patrol: a shift, a round with points, a checkpoint visit and an incident ---------------
    supervisor = api.signed_in("supervisor_hp")
    patrol = api.signed_in("patrol1")
    patrol_me = api.call("me", "get_me", 200, client=patrol)
    zone = api.call(
        "patrol",
        "create_zone",
        201,
        client=supervisor,
        body=m.ZoneCreate(
            name="契约测试责任区",
            org_unit_id=patrol_me.org_unit_id,
            geometry=m.ZoneCreateGeometry.from_dict(ZONE_GEOJSON),
            kind=m.ZoneKind.PATROL,
        ),
    )
    a_lon, a_lat = checkpoint_a()
    checkpoint = api.call(
        "patrol",
        "create_checkpoint",
        201,
        client=supervisor,
        id=zone.id,
        body=m.CheckpointCreate(name="A 岗亭", lon=a_lon, lat=a_lat, required=True),
    )
    shift = api.call(
        "patrol",
        "create_assignment",
        201,
        client=supervisor,
        id=zone.id,
        body=m.AssignmentCreate(
            user_id=patrol_me.id,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=3),
        ),
    )
    my_shifts = api.call(
        "patrol",
        "list_my_assignments",
        200,
        client=patrol,
        from_=now - timedelta(hours=2),
        to=now + timedelta(hours=4),
    )
    mine = [s for s in my_shifts if s.id == shift.id]
    assert mine and [c.id for c in mine[0].checkpoints] == [checkpoint.id]

    started_at = now - timedelta(minutes=40)
    track = make_track(started_at)
    round_id = uuid.uuid4()
    started = api.call(
        "patrol",
        "start_round",
        201,
        client=patrol,
        body=m.RoundCreate(id=round_id, zone_id=zone.id, started_at=started_at),
    )
    assert started.id == round_id and started.status == "active"
    points = [m.PointIn.from_dict(p) for p in track.points]
    result = api.call(
        "patrol",
        "add_round_points",
        200,
        client=patrol,
        id=round_id,
        body=m.PointsBatch(points=points),
    )
    assert result.accepted == len(points) and result.duplicates == 0
    visit = api.call(
        "patrol",
        "add_checkpoint_visit",
        201,
        client=patrol,
        id=round_id,
        body=m.CheckpointVisitCreate(
            id=uuid.uuid4(),
            checkpoint_id=checkpoint.id,
            ts=started_at + timedelta(minutes=4),
            lon=a_lon,
            lat=a_lat,
            method=m.VisitMethod.GPS,
            accuracy_m=6.0,
        ),
    )
    assert visit.accepted
    incident = api.call(
        "patrol",
        "add_incident",
        201,
        client=patrol,
        id=round_id,
        body=m.IncidentCreate(
            id=uuid.uuid4(),
            ts=started_at + timedelta(minutes=10),
            lon=a_lon,
            lat=a_lat,
            category="lost_property",
            description="拾到钱包一个，已交所里",
        ),
    )
    assert incident.id
    ended = api.call(
        "patrol",
        "end_round",
        200,
        client=patrol,
        id=round_id,
        body=m.RoundEnd(ended_at=started_at + timedelta(minutes=32)),
    )
    summary = api.call("patrol", "get_round", 200, client=patrol, id=round_id)
    assert ended.status == summary.status == "ended"
    assert summary.distance_m > 1000 and 0 < summary.coverage_ratio <= 1
    assert [(c.id, c.visited_at is not None) for c in summary.checkpoints] == [
        (checkpoint.id, True)
    ]

    # --- social work: my caseload, a home visit, a six-ones task completed ----------------------
    worker = api.signed_in("worker1")
    caseload = api.call("social", "get_my_caseload", 200, client=worker)
    assert caseload
    entry = next(e for e in caseload if e.client.home_lon is not None)
    home_visit = api.call(
        "social",
        "create_visit",
        201,
        client=worker,
        id=entry.client.id,
        body=m.ClientVisitCreate(
            id=uuid.uuid4(),
            kind=m.VisitKind.HOME,
            occurred_at=now - timedelta(minutes=5),
            lon=entry.client.home_lon,
            lat=entry.client.home_lat,
            accuracy_m=10.0,
            notes="入户走访，情况稳定",
        ),
    )
    assert home_visit.location_verified and home_visit.client_id == entry.client.id
    visits = api.call("social", "list_visits", 200, client=worker, id=entry.client.id)
    assert home_visit.id in [v.id for v in visits.items]
    today = now.date()
    tasks = api.call(
        "social", "list_my_tasks", 200, client=worker, from_=today, to=today + timedelta(days=70)
    )
    task = next(t for t in tasks if t.status != "done")
    completed = api.call(
        "social",
        "complete_task",
        200,
        client=worker,
        id=task.id,
        body=m.TaskComplete(completed_at=now - timedelta(minutes=1), notes="已召开"),
    )
    assert completed.id == task.id and completed.status == "done"

    # --- community correction: a check-in, a leave request decided by the officer --------------
    subject = api.signed_in("subject1")
    officer = api.signed_in("officer")
    checkin = api.call(
        "correction",
        "create_my_checkin",
        201,
        client=subject,
        body=m.CheckInCreate(
            id=uuid.uuid4(),
            kind=m.CheckInCreateKind.LOCATION,
            occurred_at=now - timedelta(minutes=2),
            lon=120.87,
            lat=32.02,
            accuracy_m=10.0,
        ),
    )
    assert checkin.status == "ok" and checkin.inside_permitted_area
    leave = api.call(
        "correction",
        "create_my_leave_request",
        201,
        client=subject,
        body=m.LeaveCreate(
            id=uuid.uuid4(),
            starts_at=now + timedelta(days=2),
            ends_at=now + timedelta(days=3),
            destination="南京市",
            reason="探望住院的母亲",
        ),
    )
    assert leave.status == "pending"
    decided = api.call(
        "correction",
        "decide_leave_request",
        200,
        client=officer,
        id=leave.id,
        body=m.LeaveDecision(approved=True, note="同意，按时返回"),
    )
    assert decided.id == leave.id and decided.status == "approved"

    # --- reminders: a campaign to a worker's phone, and its delivery ----------------------------
    token = f"contract-{uuid.uuid4().hex}"
    api.call(
        "notifications",
        "put_my_device",
        201,
        client=worker,
        fcm_token=token,
        body=m.DeviceUpsert(platform=m.Platform.ANDROID, locale="zh-CN"),
    )
    worker_me = api.call("me", "get_me", 200, client=worker)
    scheduler = api.signed_in("scheduler")
    reminder = api.call(
        "notifications",
        "create_reminder",
        201,
        client=scheduler,
        body=m.ReminderCreate(
            title="月度例会",
            body="本周五下午三点，社工站会议室",
            audience=m.AudienceIn(user_ids=[worker_me.id]),
            first_at=datetime.now(UTC) + timedelta(seconds=2),
        ),
    )

    def sent() -> list[Any]:
        deliveries = api.call(
            "notifications", "list_reminder_deliveries", 200, client=scheduler, id=reminder.id
        )
        return [d for d in deliveries if d.status == "sent"]

    delivered = _wait_for(sent, timeout_s=30, what="the reminder's push")
    assert [d.user_id for d in delivered] == [worker_me.id]
    assert field_server["fcm"].sent_to(token)
    inbox = api.call("notifications", "list_my_notifications", 200, client=worker)
    assert "月度例会" in [n.title for n in inbox.items]
