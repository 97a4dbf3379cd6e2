"""The two documents under contract (committed and served), the linters, and a generated client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMITTED_SPEC = ROOT / "openapi" / "openapi.json"
# Where `.ci/run` installs Spectral (npm, --prefix .ci/node); GRASSROOTS_SPECTRAL overrides.
LOCAL_SPECTRAL = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "spectral"
CLIENT_PACKAGE = "grassroots_client"


@pytest.fixture(scope="session")
async def served_spec() -> dict[str, Any]:
    """The document the app serves at /openapi.json, fetched through the app itself."""
    from api.app import create_app
    from grassroots.settings import Settings

    transport = httpx.ASGITransport(app=create_app(Settings(), manage_db=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="session")
def committed_spec() -> dict[str, Any]:
    return dict(json.loads(COMMITTED_SPEC.read_text(encoding="utf-8")))


@pytest.fixture(scope="session", params=["committed", "served"])
def spec_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each document as a file, for the command-line linters."""
    if request.param == "committed":
        return COMMITTED_SPEC
    path = tmp_path_factory.mktemp("served") / "openapi.json"
    path.write_text(json.dumps(request.getfixturevalue("served_spec")), encoding="utf-8")
    return path


def spectral_binary() -> str | None:
    """The Spectral CLI to run, or None when there is none here."""
    named = os.environ.get("GRASSROOTS_SPECTRAL")
    if named:
        return named if Path(named).is_file() else None
    if LOCAL_SPECTRAL.is_file():
        return str(LOCAL_SPECTRAL)
    return shutil.which("spectral")


@dataclass(frozen=True)
class GeneratedClient:
    """A Python client generated from the committed spec, importable from `path`."""

    path: Path  # the directory holding the package
    package: Path  # the package itself
    warnings: list[str]


@pytest.fixture(scope="session")
def generated_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GeneratedClient]:
    """Generate the client as the mobile teams do: openapi-python-client from the committed spec."""
    out = tmp_path_factory.mktemp("generated")
    config = out / "config.json"
    # No post hooks: formatting the generated code is the generator's business, not the contract's.
    config.write_text(json.dumps({"package_name_override": CLIENT_PACKAGE, "post_hooks": []}))
    generator = Path(sys.executable).with_name("openapi-python-client")
    result = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(COMMITTED_SPEC),
            "--meta",
            "none",
            "--output-path",
            str(out / CLIENT_PACKAGE),
            "--config",
            str(config),
        ],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    warnings = [line for line in lines if "warning" in line.lower() or "unable" in line.lower()]
    sys.path.insert(0, str(out))
    try:
        yield GeneratedClient(path=out, package=out / CLIENT_PACKAGE, warnings=warnings)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] == CLIENT_PACKAGE]:
            del sys.modules[name]
