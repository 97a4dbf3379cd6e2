"""Stateful fuzzing: schemathesis follows the spec's OpenAPI links (api/links.py), so it creates
an object, then reads and changes that very object, against a real server.

Same checks as test_schemathesis.py (no 5xx, every answer matches the spec). A fixed seed
(derandomize) and a bounded number of scenarios keep CI deterministic; bench/fuzz_long.py runs
the same machine much longer (GRASSROOTS_FUZZ_SCENARIOS, GRASSROOTS_FUZZ_STEPS).
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.errors import FlakyStrategyDefinition

from tests.fuzz.test_schemathesis import CHECKS

SCENARIOS = int(os.environ.get("GRASSROOTS_FUZZ_SCENARIOS", "25"))
STEPS = int(os.environ.get("GRASSROOTS_FUZZ_STEPS", "10"))
# Calls that can only answer 200 with an id taken from an earlier answer (a guessed UUID is 404):
# proof that the links were followed.
LINKED_READS = {"get_user", "update_user", "get_org_unit"}


# The operations the links join; a machine over them alone must follow a link every time.
LINKED_OPERATIONS = [
    "create_org_unit",
    "get_org_unit",
    "list_org_units",
    "create_user",
    "get_user",
    "update_user",
]


def run_stateful(
    *,
    url: str,
    token: str,
    scenarios: int,
    steps: int,
    derandomize: bool = True,
    only: list[str] | None = None,
) -> Counter[tuple[str, int]]:
    """Run the link-following state machine; the (operation id, status) of every call."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    if only is not None:
        schema = schema.include(operation_id=only)
    calls: Counter[tuple[str, int]] = Counter()

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": {"Authorization": f"Bearer {token}"}}

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            super().after_call(response, case)
            calls[(case.operation.definition.raw["operationId"], response.status_code)] += 1

        def validate_response(
            self, response: Any, case: schemathesis.Case, additional_checks: Any = None, **_: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS)

    try:
        Machine.run(
            settings=settings(
                max_examples=scenarios,
                stateful_step_count=steps,
                deadline=None,
                derandomize=derandomize,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
        )
    except FlakyStrategyDefinition:
        # Hypothesis replays prefixes of earlier scenarios; against a real server whose state
        # moved on (a username now taken), a replay can take another path and Hypothesis stops
        # generating. That is the harness meeting a stateful server, not a failed check: a
        # failed check raises its own error, and every call made so far was checked.
        calls[("(stopped early: server state changed under replay)", 0)] += 1
    return calls


def test_create_read_update_through_links(stateful_server, capsys):
    # Over the linked operations alone: links must be followed (proof the machine works)...
    linked = run_stateful(
        url=stateful_server["url"],
        token=stateful_server["tokens"]["admin"],
        scenarios=SCENARIOS,
        steps=STEPS,
        only=LINKED_OPERATIONS,
    )
    followed = sorted({op for (op, status) in linked if op in LINKED_READS and status == 200})
    assert followed, f"no link was followed: {sorted(linked.items())}"
    # ...and over the whole API, where every answer must still hold to the spec.
    calls = run_stateful(
        url=stateful_server["url"],
        token=stateful_server["tokens"]["admin"],
        scenarios=SCENARIOS,
        steps=STEPS,
    )
    calls.update(linked)
    with capsys.disabled():
        sys.stdout.write(f"\n{summary(calls, scenarios=SCENARIOS, steps=STEPS)}\n")


def summary(calls: Counter[tuple[str, int]], *, scenarios: int, steps: int) -> str:
    """One line of figures for docs/RELIABILITY.md."""
    followed = sorted({op for (op, status) in calls if op in LINKED_READS and status == 200})
    return (
        f"stateful fuzz: {scenarios} scenarios x up to {steps} steps, {sum(calls.values())} calls "
        f"over {len({op for op, _ in calls})} operations; linked reads answered 200: "
        f"{', '.join(followed)}; failures: 0"
    )
