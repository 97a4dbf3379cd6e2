"""The upload's body read as columns (PointsUpload) answers exactly as PointsBatch does.

PointsUpload validates the usual batch inside pydantic-core and hands the rest to PointsBatch;
whatever path a body takes, the value (as columns) or the errors must be PointsBatch's own.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from api.routers.patrol.schemas import PointsBatch, PointsUpload, batch_columns
from services.patrol.points import PointBatch

UPLOAD = TypeAdapter(PointsUpload)
BATCH = TypeAdapter(PointsBatch)

POINT = {
    "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "ts": "2026-12-02T08:00:00.250+08:00",
    "lon": 120.865,
    "lat": 32.004,
    "accuracy_m": 6.5,
    "speed_mps": 1.3,
}


def answer(adapter: TypeAdapter[Any], body: Any) -> Any:
    """The columns, or the errors as FastAPI would report them (without the echoed input)."""
    try:
        value = adapter.validate_python(body, from_attributes=True)
    except ValidationError as exc:
        return [(e["type"], e["loc"], e["msg"], e.get("ctx")) for e in exc.errors()]
    if isinstance(value, PointBatch):
        return value
    return batch_columns(value)


def same_answer(body: Any) -> None:
    new, old = answer(UPLOAD, body), answer(BATCH, body)
    if isinstance(old, PointBatch):
        assert isinstance(new, PointBatch), new
        # NaN is never equal to itself: compare the columns' text for the float fields.
        assert repr(new) == repr(old)
        assert all(t.utcoffset() is not None and t.utcoffset().total_seconds() == 0 for t in new.ts)
    else:
        assert new == old


def test_the_usual_batch_becomes_columns_in_utc():
    body = {"points": [POINT, {**POINT, "id": "1f8fad5b-d9cb-469f-a165-70867728950e"}]}
    batch = UPLOAD.validate_python(body)
    assert isinstance(batch, PointBatch) and len(batch) == 2
    assert batch.ts[0].isoformat() == "2026-12-02T00:00:00.250000+00:00"
    assert batch.accuracy_m == [6.5, 6.5] and batch.is_mock == [False, False]
    same_answer(body)


@pytest.mark.parametrize(
    "change",
    [
        {"ts": "2026-12-02t08:00:00Z"},
        {"ts": "2026-12-02 08:00:00z"},
        {"ts": "2026-12-02T08:00:00.123456789-03:30"},
        {"ts": "2026-12-02T08:00:00Z\n"},
        {"ts": " 2026-12-02T08:00:00Z"},
        {"ts": "2026-12-02T08:00:00"},
        {"ts": "2026-12-02T08:00Z"},
        {"ts": "2026-12-02T08:00:00+0800"},
        {"ts": "２０２６-12-02T08:00:00Z"},
        {"ts": "2026-13-02T08:00:00Z"},
        {"ts": 1764662400},
        {"ts": None},
        # In range as sent, out of it in UTC (StrictInput's rule), and the other way round.
        {"ts": "2200-12-31T23:00:00-02:00"},
        {"ts": "1899-12-31T23:00:00-02:00"},
        {"ts": "1900-01-01T00:30:00+01:00"},
        {"ts": "2201-01-01T00:00:00Z"},
        {"id": "0F8FAD5BD9CB469FA16570867728950E"},
        {"id": "{0f8fad5b-d9cb-469f-a165-70867728950e}"},
        {"id": "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e"},
        {"id": " 0f8fad5b-d9cb-469f-a165-70867728950e "},
        {"id": "not-a-uuid"},
        {"id": 42},
        {"lon": 120},
        {"lon": "120.5"},
        {"lon": " 120.5 "},
        {"lon": True},
        {"lon": None},
        {"lon": float("nan")},
        {"lat": float("inf")},
        {"lon": 10**400},
        {"accuracy_m": None},
        {"accuracy_m": -1.0},
        {"accuracy_m": "8"},
        {"speed_mps": [1.0]},
        {"is_mock": True},
        {"is_mock": "true"},
        {"is_mock": " yes "},
        {"is_mock": 1},
        {"is_mock": 2},
        {"is_mock": None},
        {"extra": 1},
        {"lon": "120.5\x00"},
    ],
)
def test_every_form_answers_as_points_batch(change):
    point = {**POINT, **change}
    same_answer({"points": [POINT, point]})


@pytest.mark.parametrize("missing", ["id", "ts", "lon", "lat", "accuracy_m", "is_mock"])
def test_missing_fields_answer_as_points_batch(missing):
    point = {k: v for k, v in POINT.items() if k != missing}
    same_answer({"points": [point]})


@pytest.mark.parametrize(
    "body",
    [
        {"points": []},
        {"points": {}},
        {"points": None},
        {"points": [None]},
        {"points": [[1, 2]]},
        {"points": [POINT], "round": 1},
        {},
        [],
        "points",
        None,
        b'{"points": []}',
    ],
)
def test_odd_bodies_answer_as_points_batch(body):
    same_answer(body)


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "2026-12-02T08:00:00Z",
            "2026-12-02T08:00:00.5+14:00",
            "1900-01-01T00:00:00+00:00",
            "2200-12-31T23:59:59.999999Z",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "true",
            "1e3",
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    points=st.lists(
        st.dictionaries(
            st.sampled_from([*POINT, "is_mock", "other"]),
            JSON_SCALARS,
        ).map(lambda changes: {**POINT, **changes}),
        max_size=4,
    )
)
def test_random_points_answer_as_points_batch(points):
    # What a client can send is JSON: round-trip so that only JSON's values reach the schema.
    body = json.loads(json.dumps({"points": points}))
    same_answer(body)


def test_nan_survives_to_the_service_as_sent():
    # json.loads reads NaN; the service, not the schema, refuses it point by point.
    batch = UPLOAD.validate_python({"points": [{**POINT, "lon": float("nan")}]})
    assert isinstance(batch, PointBatch) and math.isnan(batch.lon[0])
