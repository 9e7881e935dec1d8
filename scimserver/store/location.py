"""Where a database URL points, named for an operator (password masked)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url


def sqlite_path(url: str) -> Path | None:
    """The absolute path of a SQLite database file; None for an in-memory one or another
    database."""
    target = make_url(url)
    if target.get_backend_name() != "sqlite":
        return None
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
    return target.render_as_string(hide_password=True)
