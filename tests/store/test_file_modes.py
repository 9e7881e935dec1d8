"""A SQLite database holds signing keys, webhook secrets and HMAC keys in clear: its files
(database, WAL, shared memory, lock) are readable by their owner only, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from scimserver.app import create_app
from scimserver.cli import main
from scimserver.config import Settings
from tests.conftest import close_app, make_client

SUFFIXES = ("", "-wal", "-shm", "-lock")


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual umask, under which files are created 0644 unless asked otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(database: Path) -> dict[str, int]:
    return {s: stat.S_IMODE(Path(f"{database}{s}").stat().st_mode) for s in SUFFIXES}


def test_the_server_creates_them_0600(tmp_path: Path) -> None:
    database = tmp_path / "served.db"
    app = create_app(Settings(database_url=f"sqlite:///{database}"))
    try:
        make_client(app).create_user()  # a write: the WAL and the lock are in use
        assert modes(database) == dict.fromkeys(SUFFIXES, 0o600)
    finally:
        close_app(app)


def test_db_upgrade_creates_them_0600(tmp_path: Path) -> None:
    database = tmp_path / "upgraded.db"
    env = {"SCIMSERVER_DATABASE_URL": f"sqlite:///{database}"}
    assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    app = create_app(Settings(database_url=f"sqlite:///{database}"))
    try:
        make_client(app).create_user()
        assert modes(database) == dict.fromkeys(SUFFIXES, 0o600)
    finally:
        close_app(app)
