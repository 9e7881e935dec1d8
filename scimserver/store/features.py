"""What each database can do, by name: where the store finds its backend's capabilities.

As Django's ``connection.features``: the store asks whether its database can do a thing
(``features_of(executor).writes_with_cte``), never which database it is. A backend is
chosen once, by the engine's dialect; statements prebuilt for each backend are keyed by
its ``name``. Each backend states its capabilities in a module of its own
(``store/sqlite.py``, ``store/postgresql.py``); adding one is adding such a module, its
entry here, and its statements.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Dialect, Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from scimserver.store.capabilities import Features
from scimserver.store.postgresql import POSTGRESQL
from scimserver.store.sqlite import SQLITE

__all__ = ["BACKENDS", "Features", "dialect_features", "features_of", "per_backend", "url_features"]

T = TypeVar("T")
BACKENDS = {f.name: f for f in (SQLITE, POSTGRESQL)}


def features_of(bind: Session | Connection | Engine) -> Features:
    """The features of the database ``bind`` talks to."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return BACKENDS[engine.dialect.name]


def dialect_features(dialect: Dialect) -> Features | None:
    """The features of ``dialect``'s database; None for another (SQLAlchemy's default
    dialect, which compiles a statement printed without a database)."""
    return BACKENDS.get(dialect.name)


def url_features(url: str | URL) -> Features | None:
    """The features of the database ``url`` names; None for another."""
    return BACKENDS.get(make_url(url).get_backend_name())


def per_backend(build: Callable[[Features], T]) -> dict[str, T]:
    """``build`` made for each backend, keyed by its name: a statement prebuilt for each."""
    return {features.name: build(features) for features in BACKENDS.values()}
