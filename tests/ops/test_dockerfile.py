"""The Dockerfile, checked without a Docker engine: lint, hardening, and its HEALTHCHECK
run against the real server (tests/test_install.py runs its install path and CMD)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import LiveServer

REPO = Path(__file__).resolve().parent.parent.parent
DOCKERFILE = (REPO / "Dockerfile").read_text()


def instruction(name: str) -> str:
    """The last ``name`` instruction's arguments, continuation lines joined."""
    joined = DOCKERFILE.replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(.*)$", joined, re.MULTILINE)
    assert found, f"no {name} in the Dockerfile"
    return str(found[-1])


def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(REPO / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runs_unprivileged_and_trusts_no_forwarded_headers() -> None:
    user = instruction("USER")
    assert user.isdigit() and int(user) >= 1000
    assert "FORWARDED_ALLOW_IPS" not in DOCKERFILE
    assert "TRUSTED_PROXIES=" not in DOCKERFILE
    assert json.loads(instruction("CMD")) == ["scimserver", "serve"]
    assert DOCKERFILE.count("FROM ") == 2  # build stage, then a runtime stage without it


def test_build_context_leaves_secrets_and_clutter_out() -> None:
    rules = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"  # everything is excluded, then only the wheel's sources return
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "schemas", "scimserver"}


@pytest.mark.slow
def test_the_healthcheck_command_passes_on_a_ready_server(tmp_path: Path) -> None:
    command = json.loads(instruction("HEALTHCHECK").split(" CMD ", 1)[1])
    env = {"SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"}
    with LiveServer(env, workers=1, cwd=tmp_path, log_dir=tmp_path) as server:
        probe = [sys.executable if c == "python" else c for c in command]
        probe = [c.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}") for c in probe]
        assert subprocess.run(probe, check=False, timeout=10).returncode == 0
    down = subprocess.run(probe, check=False, timeout=10, capture_output=True)
    assert down.returncode != 0  # and it fails once the server is gone
