"""The command line itself: help and version touch no database, failures are one line."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from scimserver.cli import main

SCIMSERVER = Path(sys.executable).parent / "scimserver"
UNREACHABLE = "postgresql://postgres@127.0.0.1:1/scimserver"


def run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCIMSERVER), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in group.commands.items():
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
    return paths


@pytest.fixture
def unreachable() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "SCIMSERVER_DATABASE_URL": UNREACHABLE}


@pytest.mark.parametrize("args", [(), ("--help",), ("--version",)])
def test_bare_help_and_version_touch_no_database(
    tmp_path: Path, unreachable: dict[str, str], args: tuple[str, ...]
) -> None:
    result = run(tmp_path, unreachable, *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_version_is_scimservers_and_help_has_no_flask_options(
    tmp_path: Path, unreachable: dict[str, str]
) -> None:
    assert run(tmp_path, unreachable, "--version").stdout.strip() == (
        f"scimserver, version {version('scimserver')}"
    )
    help_text = run(tmp_path, unreachable, "--help").stdout
    for flask_option in ("--env-file", "--app", "--debug"):
        assert flask_option not in help_text


def test_every_subcommand_help_touches_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    paths = command_paths(main)
    assert ("token", "rotate") in paths and ("tenant", "delete") in paths
    for path in paths:
        result = CliRunner().invoke(
            main, [*path, "--help"], env={"SCIMSERVER_DATABASE_URL": UNREACHABLE}
        )
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: " in result.output
    assert list(tmp_path.iterdir()) == []


def test_migrations_are_quiet_unless_verbose_and_logs_follow_the_format(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'q.db'}"}
    quiet = run(tmp_path, env, "db", "upgrade")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == f"Database: sqlite:///{tmp_path / 'q.db'}\n"
    verbose_env = env | {"SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'v.db'}"}
    verbose = run(tmp_path, verbose_env, "-v", "db", "upgrade")
    assert "Running upgrade" in verbose.stderr and "Context impl" in verbose.stderr
    logged = [json.loads(line) for line in verbose.stderr.splitlines()[1:]]  # JSON by default
    assert {entry["logger"] for entry in logged} == {"alembic.runtime.migration"}
    text = run(tmp_path, verbose_env | {"SCIMSERVER_LOG_FORMAT": "text"}, "-v", "tenant", "list")
    assert " INFO alembic.runtime.migration: Context impl SQLiteImpl." in text.stderr


def one_line_failure(tmp_path: Path, url: str, *args: str) -> str:
    """The one line a failed command prints after the line naming its database (if any)."""
    result = run(tmp_path, {"PATH": "/usr/bin:/bin", "SCIMSERVER_DATABASE_URL": url}, *args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    if lines[0].startswith("Database: "):
        lines = lines[1:]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_unreachable_postgresql_is_one_line(tmp_path: Path) -> None:
    line = one_line_failure(tmp_path, UNREACHABLE, "token", "list")
    assert "127.0.0.1:1" in line and "is PostgreSQL running?" in line


def test_missing_postgresql_database_says_how_to_create_it(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:5432/scimserver_no_such_db"
    line = one_line_failure(tmp_path, url, "tenant", "list")
    assert 'database "scimserver_no_such_db" does not exist' in line
    assert "createdb scimserver_no_such_db" in line


def test_sqlite_in_a_missing_folder_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    line = one_line_failure(tmp_path, f"sqlite:///{missing / 'x.db'}", "db", "upgrade")
    assert f"the folder {missing} does not exist" in line


def test_serve_on_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        line = one_line_failure(tmp_path, f"sqlite:///{tmp_path / 's.db'}", "serve", "--bind", bind)
    assert line == f"Error: {bind} is already in use — pick another with --bind"
    assert not (tmp_path / "s.db").exists()  # checked before migrating
