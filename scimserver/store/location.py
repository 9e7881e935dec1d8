"""Where a database URL points: named for an operator (password masked), and a SQLite
file created readable by its owner only (it holds signing keys and webhook secrets)."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from sqlalchemy.engine import make_url

from scimserver.store.features import url_features

PRIVATE = 0o600
_MASK = "MASKEDPASSWORD"  # rendered URL-quoted, "***" would come out as %2A%2A%2A


def sqlite_path(url: str) -> Path | None:
    """The absolute path of a database file (SQLite's); None for an in-memory one or a
    database that is not a file."""
    features = url_features(url)
    if features is None or not features.in_a_file:
        return None
    target = make_url(url)
    name = target.database or ""
    if name in {"", ":memory:"} or name.startswith("file:"):
        return None
    return Path(name).resolve()


def describe(url: str) -> str:
    """The URL with any password as ``***`` and a SQLite file's path made absolute
    (``sqlite:////srv/scim/scimserver.db``): what to set elsewhere to reach the same."""
    target = make_url(url)
    path = sqlite_path(url)
    if path is not None:
        target = target.set(database=str(path))
    if "password" in target.query:  # libpq also takes it as a parameter
        target = target.update_query_dict({"password": _MASK})
    return target.render_as_string(hide_password=True).replace(_MASK, "***")


def create_private(url: str) -> None:
    """Create a missing SQLite database file with mode 0600 before SQLite opens it: SQLite
    gives its WAL and shared-memory files the database file's mode. An existing file, or
    another database, is left as it is."""
    path = sqlite_path(url)
    if path is None or path.exists():
        return
    # Another process may create it meanwhile; a missing folder, SQLite's open reports.
    with suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
