"""Request counts per token and window, shared through the database by every process."""

from __future__ import annotations

from sqlalchemy import bindparam, delete
from sqlalchemy.orm import Session

from scimserver.store.counters import Increment
from scimserver.store.models import RateWindow

_WINDOWS = RateWindow.metadata.tables[RateWindow.__tablename__]


_ADD = Increment(
    _WINDOWS,
    ("token_id", "window"),
    "count",
    {"token_id": "token", "window": "window", "count": "n"},
)
_FORGET = delete(_WINDOWS).where(
    _WINDOWS.c.token_id == bindparam("token"), _WINDOWS.c.window < bindparam("window")
)


def add(session: Session, token_id: int, window: int, count: int) -> int:
    """Add ``count`` requests to the token's window; the window's total over all processes."""
    return _ADD(session, {"token": token_id, "window": window, "n": count})


def forget_before(session: Session, token_id: int, window: int) -> None:
    """Drop the token's windows that ended: they are never read again."""
    session.execute(_FORGET, {"token": token_id, "window": window})
