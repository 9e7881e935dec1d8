"""Every command that touches data names its database on stderr, and only ``serve`` and
``db upgrade`` create a SQLite database: elsewhere a missing file is a mistake (a command
run in the wrong folder), refused before anything is written."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from scimserver.cli import main
from scimserver.store.location import describe
from tests.conftest import cli_env

SCIMSERVER = Path(sys.executable).parent / "scimserver"
STARTED_TIMEOUT = 30.0
REFUSING = [
    ("token", "create", "--name", "oops"),
    ("token", "list"),
    ("tenant", "list"),
    ("admin", "list"),
    ("webhook", "list"),
    ("audit", "--user", "bjensen"),
    ("worker",),
]


@pytest.mark.parametrize("args", REFUSING, ids=[" ".join(a) for a in REFUSING])
def test_commands_refuse_to_create_a_sqlite_database(
    args: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="scimserver.worker"):
        result = CliRunner().invoke(main, list(args), env={"SCIMSERVER_DATABASE_URL": None})
    assert result.exit_code == 1, result.output
    *named, refusal = result.stderr.strip().splitlines()
    path = tmp_path / "scimserver.db"
    if args == ("worker",):  # the worker logs it (here to pytest's handler, not stderr)
        named = [r.getMessage() for r in caplog.records if r.name == "scimserver.worker"]
    assert named == [f"Database: sqlite:///{path}"]
    assert refusal.startswith(f"Error: no SQLite database at {path} ")
    assert "SCIMSERVER_DATABASE_URL is not set" in refusal and "scimserver db upgrade" in refusal
    assert list(tmp_path.iterdir()) == []  # nothing created: no database, WAL or lock


def test_a_configured_url_is_named_in_the_refusal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    result = CliRunner().invoke(main, ["token", "list"], env={"SCIMSERVER_DATABASE_URL": url})
    assert result.exit_code == 1
    assert f"SCIMSERVER_DATABASE_URL is {url!r}" in result.stderr


def test_db_upgrade_creates_it_and_then_commands_use_it(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "scim.db")
    result = CliRunner().invoke(main, ["tenant", "list"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Database: sqlite:///{tmp_path / 'scim.db'}\n"
    assert "default" in result.stdout


def test_commands_name_the_database_they_use(app: Flask) -> None:
    url = app.extensions["scimserver"].settings.database_url
    result = CliRunner().invoke(main, ["tenant", "list"], env={"SCIMSERVER_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == f"Database: {describe(url)}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://scim:hunter2-secret@127.0.0.1:1/scimserver",
            "postgresql://scim:***@127.0.0.1:1/scimserver",
        ),
        (
            "postgresql://scim@127.0.0.1:1/scimserver?password=hunter2-secret&sslmode=disable",
            "postgresql://scim@127.0.0.1:1/scimserver?password=***&sslmode=disable",
        ),
    ],
)
def test_a_password_in_the_url_is_masked(url: str, shown: str) -> None:
    result = CliRunner().invoke(main, ["tenant", "list"], env={"SCIMSERVER_DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"Database: {shown}"
    assert "hunter2" not in result.output


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_the_worker_logs_in_the_configured_format_and_stops_clean(fmt: str, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SCIMSERVER_LOG_FORMAT": fmt, **cli_env(tmp_path / "w.db")}
    stderr_path = tmp_path / "worker.stderr"
    with stderr_path.open("wb") as stderr:
        worker = subprocess.Popen(
            [str(SCIMSERVER), "worker"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + STARTED_TIMEOUT
        while " started" not in stderr_path.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, stderr_path.read_text()
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        worker.kill()
        worker.wait()
    logged = stderr_path.read_text().splitlines()
    named = f"Database: sqlite:///{tmp_path / 'w.db'}"
    clear = "Secrets: signing keys, webhook secrets and HMAC keys are stored in clear"
    if fmt == "json":
        entries = [json.loads(line) for line in logged]  # every line, Alembic's too
        assert entries[0]["message"] == named
        assert entries[1]["level"] == "WARNING" and entries[1]["message"].startswith(clear)
        worker_lines = [e["message"] for e in entries if e["logger"] == "scimserver.service.worker"]
        assert [m.split()[-1] for m in worker_lines] == ["started", "stopped"]
    else:
        assert not any(line.startswith("{") for line in logged)
        assert logged[0].endswith(f" INFO scimserver.worker: {named}")
        assert f" WARNING scimserver.worker: {clear}" in logged[1]
        assert logged[-1].endswith(" stopped") and " INFO scimserver.service.worker: " in logged[-1]
