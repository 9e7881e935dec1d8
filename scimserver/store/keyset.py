"""Keyset predicates: "rows after this one" in an ORDER BY of (key NULLS LAST, id)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, tuple_


def after_nullable(
    key: ColumnElement[Any], row_id: ColumnElement[Any], value: Any, last_id: str, descending: bool
) -> ColumnElement[bool]:
    """Rows after (value, last_id) when ascending puts NULL keys last, descending first."""
    if not descending:
        if value is None:
            return and_(key.is_(None), row_id > last_id)
        return or_(key > value, key.is_(None), and_(key == value, row_id > last_id))
    if value is None:
        return or_(and_(key.is_(None), row_id < last_id), key.is_not(None))
    return or_(key < value, and_(key == value, row_id < last_id))


def after_columns(
    key: ColumnElement[Any], row_id: ColumnElement[Any], value: Any, last_id: str, descending: bool
) -> ColumnElement[bool]:
    """Rows after (value, last_id) for a NOT NULL key: a row-value comparison indexes can use."""
    if value is None:
        return false()
    pair = tuple_(key, row_id)
    return pair < (value, last_id) if descending else pair > (value, last_id)
