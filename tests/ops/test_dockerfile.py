"""The Dockerfile, checked without a Docker engine: lint, hardening, and its HEALTHCHECK
run against the real server (tests/test_install.py runs its install path and CMD)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import LiveServer, free_port

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
    assert allowed == {"pyproject.toml", "README.md", "requirements.lock", "schemas", "scimserver"}


def test_dependencies_come_from_the_hashed_lock() -> None:
    """The runtime stage installs requirements.lock with hashes, then the wheel alone."""
    run = instruction("RUN")
    assert "COPY requirements.lock" in DOCKERFILE
    assert "--require-hashes -r /tmp/requirements.lock" in run
    assert "--no-deps /tmp/*.whl" in run
    assert run.index("--require-hashes") < run.index("--no-deps")


def healthcheck_probe() -> list[str]:
    command = json.loads(instruction("HEALTHCHECK").split(" CMD ", 1)[1])
    assert "SCIMSERVER_BIND" in " ".join(command), "the probe must follow SCIMSERVER_BIND"
    return [sys.executable if c == "python" else c for c in command]


def image_env(name: str) -> str:
    found = re.search(rf"\b{name}=(\S+)", instruction("ENV"))
    assert found, f"the image sets no {name}"
    return found.group(1)


@pytest.mark.slow
def test_the_healthcheck_follows_the_configured_port(tmp_path: Path) -> None:
    """The probe asks the port in SCIMSERVER_BIND (0.0.0.0 meaning this host), wherever it is."""
    probe = healthcheck_probe()
    assert image_env("SCIMSERVER_BIND").startswith("0.0.0.0:")
    env = {"SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"}

    def check(bind: str) -> int:
        environ = {**os.environ, "SCIMSERVER_BIND": bind}
        return subprocess.run(probe, env=environ, check=False, timeout=10).returncode

    with LiveServer(env, workers=1, cwd=tmp_path, log_dir=tmp_path) as server:
        assert check(f"0.0.0.0:{server.port}") == 0  # as in the image
        assert check(f"127.0.0.1:{server.port}") == 0
        assert check(f"0.0.0.0:{free_port()}") != 0  # another port: nothing ready there
    assert check(f"0.0.0.0:{server.port}") != 0  # and it fails once the server is gone
