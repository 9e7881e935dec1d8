"""Answers too large to build in memory, read from the database while they are sent.

A group of 100,000 members rendered whole costs its worker about 100 MB; streamed, one
chunk of members at a time. Everything that can fail with a status (not found, a bad
projection, a precondition) is decided before a :class:`Streamed` is made; what is left
is reading rows in a transaction that is already open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from scimserver.store.db import Database
from scimserver.store.repository import Session


@dataclass(frozen=True)
class Streamed:
    """A resource whose one long list is read in chunks as the answer is sent.

    ``head`` are the document's keys before the list (named ``name``), ``tail`` those after
    it. ``chunks`` yields the list's elements as returned (already projected), read in
    the read transaction the use case began, so they match the document's version;
    ``close`` ends that transaction (whether or not ``chunks`` was read to the end).
    """

    head: dict[str, Any]
    name: str
    chunks: Iterator[list[dict[str, Any]]]
    tail: dict[str, Any]
    close: Callable[[], None]

    @property
    def meta(self) -> Any:
        """The document's ``meta``, if it is returned."""
        return self.head.get("meta", self.tail.get("meta"))


Document = dict[str, Any] | Streamed
"""A rendered resource: built in memory, or streamed."""


def close_all(documents: Iterable[Document]) -> None:
    """End the read transactions that streamed documents hold (each once)."""
    for document in documents:
        if isinstance(document, Streamed):
            document.close()


class HeldRead:
    """A read transaction that a streamed answer may keep open after its use case returns.

    As a context manager (``with HeldRead(...) as held``: ``held.session``) it ends the
    transaction on leaving, unless :meth:`keep` handed it to a streamed answer; an
    exception always ends it.
    """

    def __init__(self, db: Database, snapshot: bool) -> None:
        self._db = db
        self._stack = ExitStack()
        self.session: Session = self._stack.enter_context(db.read(snapshot))
        self._kept = False

    def keep(self) -> Callable[[], None]:
        """Keep the transaction open past the ``with`` block; the result ends it. Its
        connection leaves the request with it (``Database.detach``)."""
        self._kept = True
        self._db.detach()
        return self._stack.close

    def __enter__(self) -> HeldRead:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None or not self._kept:
            self._stack.__exit__(kind, error, traceback)
