"""Request counts per token and window, shared through the database by every process."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scimserver.store.models import RateWindow

_WINDOWS = RateWindow.metadata.tables[RateWindow.__tablename__]


def _add_statement(dialect: Any) -> Any:
    """``count += :n`` for (token, window), created at ``:n``; returns the new count."""
    statement = dialect.insert(_WINDOWS).values(
        token_id=bindparam("token"), window=bindparam("window"), count=bindparam("n")
    )
    return statement.on_conflict_do_update(
        index_elements=[_WINDOWS.c.token_id, _WINDOWS.c.window],
        set_={"count": _WINDOWS.c.count + statement.excluded.count},
    ).returning(_WINDOWS.c.count)


_ADD = {"postgresql": _add_statement(postgresql), "sqlite": _add_statement(sqlite)}
_FORGET = delete(_WINDOWS).where(
    _WINDOWS.c.token_id == bindparam("token"), _WINDOWS.c.window < bindparam("window")
)


def add(session: Session, token_id: int, window: int, count: int) -> int:
    """Add ``count`` requests to the token's window; the window's total over all processes."""
    statement = _ADD[session.get_bind().dialect.name]
    params = {"token": token_id, "window": window, "n": count}
    return int(session.execute(statement, params).scalar_one())


def forget_before(session: Session, token_id: int, window: int) -> None:
    """Drop the token's windows that ended: they are never read again."""
    session.execute(_FORGET, {"token": token_id, "window": window})
