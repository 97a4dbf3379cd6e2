"""Both documents (committed and served) pass the tools the mobile teams run on them.

openapi-spec-validator (OpenAPI 3.1 rules) must find nothing; Spectral with `spectral:oas`
(`.spectral.yaml`) must report no error and no warning. Spectral is a Node tool: `.ci/run` installs
it and names it in GRASSROOTS_SPECTRAL; where it is missing the test skips, except under CI, where
a missing linter is a failure (a skipped contract check would be a green lie).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from tests.contract.conftest import ROOT, spectral_binary

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def test_openapi_spec_validator_finds_nothing(spec_file: Path):
    document, base_uri = read_from_filename(str(spec_file))
    validate(document, base_uri=base_uri)  # raises on the first error


def test_spectral_oas_reports_no_error_and_no_warning(spec_file: Path):
    binary = spectral_binary()
    if binary is None:
        reason = (
            "Spectral CLI not found: install it with "
            "`npm install --no-save --prefix .ci/node @stoplight/spectral-cli@6` "
            "or name it in GRASSROOTS_SPECTRAL"
        )
        if os.environ.get("CI") == "true" or os.environ.get("GRASSROOTS_SPECTRAL"):
            pytest.fail(reason)
        pytest.skip(reason)
    result = subprocess.run(
        [
            binary,
            "lint",
            str(spec_file),
            "--ruleset",
            str(ROOT / ".spectral.yaml"),
            "--format",
            "json",
            "--quiet",
            "--fail-severity",
            "hint",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip(), (
        f"Spectral printed nothing (exit {result.returncode}): {result.stderr}"
    )
    findings = json.loads(result.stdout)
    described = [
        f"{f['code']} ({f['severity']}) at {'.'.join(map(str, f['path']))}: {f['message']}"
        for f in findings
    ]
    assert not described, "\n".join(described[:50])
    assert result.returncode == 0, result.stderr


def test_the_ruleset_is_spectral_oas():
    """The committed ruleset is the standard one, not a relaxed copy."""
    text = (ROOT / ".spectral.yaml").read_text(encoding="utf-8")
    assert re.fullmatch(r'extends:\s*\["spectral:oas"\]\s*', text), text


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_path_parameter_is_declared_once_with_a_type(served_spec: dict[str, Any]):
    wrong = []
    for method, path, operation in _operations(served_spec):
        in_path = re.findall(r"\{(\w+)\}", path)
        declared = [p for p in operation.get("parameters", []) if p["in"] == "path"]
        if sorted(in_path) != sorted(p["name"] for p in declared):
            wrong.append(f"{method.upper()} {path}: {[p['name'] for p in declared]}")
        wrong += [
            f"{method.upper()} {path}: {p['name']} has no type"
            for p in declared
            if not p.get("required") or "type" not in p.get("schema", {})
        ]
    assert not wrong, wrong


def test_loaded_ids_are_declared_as_uuid_strings(served_spec: dict[str, Any]):
    """The load-or-404 dependency declares its `id`: a client sends a UUID, nothing else."""
    schema = served_spec["paths"]["/api/v1/rounds/{id}"]["get"]["parameters"][0]["schema"]
    assert schema["type"] == "string" and schema["format"] == "uuid"


def test_schema_names_are_unique_across_domains(served_spec: dict[str, Any]):
    """pydantic writes two models of one name as `module__path__Name`; generators then drop one."""
    clashing = [n for n in served_spec["components"]["schemas"] if "__" in n]
    assert not clashing, clashing


def test_tags_declared_are_the_tags_in_use(served_spec: dict[str, Any]):
    declared = [t["name"] for t in served_spec["tags"]]
    assert len(declared) == len(set(declared)), declared
    assert all(t.get("description") for t in served_spec["tags"]), served_spec["tags"]
    used = {t for _, _, op in _operations(served_spec) for t in op.get("tags", [])}
    assert set(declared) == used, set(declared) ^ used
    assert all(op.get("tags") for _, _, op in _operations(served_spec))


def test_info_and_servers(served_spec: dict[str, Any]):
    info = served_spec["info"]
    assert info["description"].strip() and info["contact"]
    assert served_spec["servers"] and all(s["url"] for s in served_spec["servers"])


def test_every_component_is_used(served_spec: dict[str, Any]):
    text = json.dumps({k: v for k, v in served_spec.items() if k != "components"})
    schemas = served_spec["components"]["schemas"]
    # A schema counts as used when an operation, or a schema an operation uses, refers to it.
    used: set[str] = set()
    pending = set(re.findall(r'"#/components/schemas/([^"]+)"', text))
    while pending:
        name = pending.pop()
        if name not in used:
            used.add(name)
            pending |= set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(schemas[name])))
    assert set(schemas) == used, set(schemas) - used


def test_committed_and_served_documents_are_the_same(
    served_spec: dict[str, Any], committed_spec: dict[str, Any]
):
    assert served_spec == committed_spec, "run `grassroots export-openapi`"
