"""The Dockerfile's install path, end to end: build the wheel, install requirements.lock
(hash-checked) and the wheel into a fresh virtualenv, and serve from an empty directory
with nothing of the repository in sight."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.live import LiveServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
STEP_TIMEOUT = 300  # seconds, for the build and for the pip install each
CORE_SCHEMAS = {
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:Group",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
}
SCIM_JSON = "application/scim+json"


def run(args: list[str], cwd: Path) -> str:
    result = subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def docker_context(target: Path) -> Path:
    """What the Dockerfile's build stage copies (and .dockerignore lets in), nothing more."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, target / name)
    for name in ("schemas", "scimserver"):
        shutil.copytree(REPO / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def build_wheel(outdir: Path) -> Path:
    source = docker_context(outdir.parent / "context")
    run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), str(source)], cwd=source
    )
    wheels = list(outdir.glob("scimserver-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_installs_and_serves(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (
        "scimserver/schemas/core/User.json",
        "scimserver/schemas/core/Group.json",
        "scimserver/schemas/extension/EnterpriseUser.json",
        "scimserver/store/migrations/env.py",
        "scimserver/store/migrations/script.py.mako",
        "scimserver/api/admin/templates/admin/base.html",
        "scimserver/api/admin/static/console.css",
        "scimserver/api/admin/static/copy.js",
    ):
        assert shipped in names, f"{shipped} is missing from {wheel.name}"
    assert any(
        n.startswith("scimserver/store/migrations/versions/") and n.endswith(".py") for n in names
    ), f"no Alembic revisions in {wheel.name}"

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    # As the image does: the hashed lock first, then the wheel with nothing left to resolve.
    lock = REPO / "requirements.lock"
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    run([*pip, "--require-hashes", "-r", str(lock)], cwd=tmp_path)
    run([*pip, "--no-deps", str(wheel)], cwd=tmp_path)
    run([str(python), "-m", "pip", "check"], cwd=tmp_path)

    workdir = tmp_path / "empty"
    workdir.mkdir()
    installed = run(
        [str(python), "-c", "import scimserver; print(scimserver.__file__)"], cwd=workdir
    ).strip()
    assert Path(installed).is_relative_to(venv), f"scimserver imported from {installed}"

    env = {"SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    executable = venv / "bin" / "scimserver"
    user_name = f"install-{uuid.uuid4().hex[:8]}"

    with LiveServer(
        env, workers=1, executable=executable, cwd=workdir, log_dir=tmp_path / "logs-1"
    ) as server:
        assert len(server.printed_tokens) == 1, server.logs()
        token = server.token
        assert token is not None
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.scim_url, headers=headers, timeout=10.0) as http:
            config = http.get("/ServiceProviderConfig")
            assert config.status_code == 200, config.text
            schemas = http.get("/Schemas")
            assert schemas.status_code == 200, schemas.text
            published = {s["id"] for s in schemas.json()["Resources"]}
            assert published >= CORE_SCHEMAS, published

            created = http.post(
                "/Users",
                headers={"Content-Type": SCIM_JSON},
                json={
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                },
            )
            assert created.status_code == 201, created.text
            user_id = created.json()["id"]
            read = http.get(f"/Users/{user_id}")
            assert read.status_code == 200, read.text
            assert read.json()["userName"] == user_name
        console = httpx.get(f"{server.url}/admin/login", timeout=10.0)
        assert console.status_code == 200 and 'name="csrf_token"' in console.text
        css = httpx.get(f"{server.url}/admin/static/console.css", timeout=10.0)
        assert css.status_code == 200, "the console's stylesheet is not in the wheel"
        # Two servers on one host must not share gunicorn's per-user control socket.
        assert "Control socket" not in server.logs(), server.logs()
    assert list(workdir.iterdir()) == [], "serve wrote into its working directory"

    with LiveServer(
        env, workers=1, executable=executable, cwd=workdir, log_dir=tmp_path / "logs-2"
    ) as again:
        assert again.printed_tokens == [], again.logs()
        with httpx.Client(base_url=again.scim_url, headers=headers, timeout=10.0) as http:
            read = http.get(f"/Users/{user_id}")
            assert read.status_code == 200, f"{read.text}\n{again.logs()}"
            assert read.json()["userName"] == user_name
