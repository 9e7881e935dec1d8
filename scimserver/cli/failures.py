"""Database failures as one line an operator can act on, never a traceback.

The driver's message and SQLSTATE tell what went wrong; the configured URL tells where.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from scimserver.store.features import url_features

_MISSING_DATABASE = "3D000"  # invalid_catalog_name
_MISSING_TABLE = "42P01"  # undefined_table
_AUTHENTICATION = ("28000", "28P01")  # invalid_authorization, invalid_password
_UNREACHABLE = ("Connection refused", "could not connect", "timeout expired", "No route to host")


def explain(exc: DBAPIError, url: str) -> str:
    """One line saying what failed at ``url`` and what to do about it."""
    text = str(exc.orig if exc.orig is not None else exc)
    try:
        target = make_url(url)
    except ArgumentError:
        return f"database error: {_first_line(text)}"
    features = url_features(target)
    if features is not None and features.in_a_file:
        return _sqlite(text, target.database or "")
    return _postgres(text, getattr(exc.orig, "sqlstate", None), target)


def bad_url(url: str) -> str:
    return f"SCIMSERVER_DATABASE_URL is not a database URL: {url!r}"


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def _sqlite(text: str, path: str) -> str:
    if "unable to open database file" in text and path:
        folder = Path(path).resolve().parent
        if not folder.is_dir():
            return f"cannot open SQLite database {path}: the folder {folder} does not exist"
        return f"cannot open SQLite database {path}: {_first_line(text)}"
    if "no such table" in text:
        return "the database has no scimserver schema — run `scimserver db upgrade`"
    return f"SQLite error on {path}: {_first_line(text)}"


def _postgres(text: str, sqlstate: str | None, target: URL) -> str:
    name = target.database or ""
    where = f"{target.host or 'localhost'}:{target.port or 5432}"
    if sqlstate == _MISSING_DATABASE or f'database "{name}" does not exist' in text:
        return f'database "{name}" does not exist on {where} — create it with `createdb {name}`'
    if sqlstate in _AUTHENTICATION or "authentication failed" in text:
        return (
            f"PostgreSQL at {where} refused user {target.username!r}: check the URL's credentials"
        )
    if any(marker in text for marker in _UNREACHABLE):
        return f"cannot connect to PostgreSQL at {where} — is PostgreSQL running?"
    if sqlstate == _MISSING_TABLE:
        return "the database has no scimserver schema — run `scimserver db upgrade`"
    return f"PostgreSQL error at {where}: {_first_line(text)}"
