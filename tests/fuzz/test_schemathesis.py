"""Schemathesis over every operation of the app's own OpenAPI spec, against a real server.

Fails on any 5xx and on any answer that breaks the spec (status, content type, body schema).
Runs as an admin and as a patrol member; a fixed seed (derandomize) and a bounded number of
examples per operation keep CI deterministic and short. Every operation added to the app is
fuzzed here without any change to this file.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
EXAMPLES = int(os.environ.get("GRASSROOTS_FUZZ_EXAMPLES", "12"))


@pytest.mark.parametrize("username", ["admin", "patrol1"])
def test_every_operation_survives_generated_input(fuzz_server, username):
    schema = schemathesis.openapi.from_url(f"{fuzz_server['url']}/openapi.json")
    headers = {"Authorization": f"Bearer {fuzz_server['tokens'][username]}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            exercise()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert operations >= 10
    assert not failures, "\n\n".join(failures)
