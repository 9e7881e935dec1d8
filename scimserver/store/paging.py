"""A list request in SQL terms: the rows it selects, their order, and keyset steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_

from scimserver.schema.model import AttrRef, ResourceType
from scimserver.scim.filter import FilterNode
from scimserver.store.filter_sql import USER_NAME_IS, filter_clause, sort_key, user_name_equal
from scimserver.store.keyset import after_columns, after_nullable
from scimserver.store.models import Resource

Position = tuple[Any, ...]
"""Where a keyset page resumes: the sort key value and the id of the row it follows."""

_ID: ColumnElement[str] = Resource.id.expression
CREATED: ColumnElement[Any] = Resource.created.expression
"""The default sort key (creation order); a :class:`Selection` without sortBy has it."""


@dataclass(frozen=True)
class Selection:
    """The rows a list request selects and the key it sorts them by (ties broken by id)."""

    where: ColumnElement[bool] | None
    key: ColumnElement[Any]
    nullable: bool
    """Whether the key may be NULL: a resource can lack the sortBy attribute."""
    user_name: str | None = None
    """Set when the filter is just ``userName eq``: at most one row (userName is unique),
    found by a prebuilt statement instead of one built and cache-keyed per request."""

    @property
    def params(self) -> dict[str, Any]:
        """The values a statement using ``where`` binds."""
        return {} if self.user_name is None else {"user_name": self.user_name}

    def order_by(self, descending: bool) -> list[ColumnElement[Any]]:
        """ORDER BY clauses; NULL keys last when ascending, first when descending."""
        return self.order_of(self.key, _ID, descending)

    def order_of(
        self, key: ColumnElement[Any], id_: ColumnElement[Any], descending: bool
    ) -> list[ColumnElement[Any]]:
        """The same order, by ``key`` and ``id_`` as some subquery names them."""
        columns = [key, id_]
        if self.nullable:
            columns.insert(0, key.is_(None))
        return [c.desc() if descending else c.asc() for c in columns]

    def after(self, position: Position | None, descending: bool) -> ColumnElement[bool] | None:
        """``where``, narrowed to the rows that follow ``position`` in this order."""
        if position is None:
            return self.where
        value, last_id = position
        after = after_nullable if self.nullable else after_columns
        step = after(self.key, _ID, value, last_id, descending)
        return step if self.where is None else and_(self.where, step)


def selection(
    resource_type: ResourceType, tenant_id: int, node: FilterNode | None, sort_by: AttrRef | None
) -> Selection:
    """Resources matching ``node`` (all without one), sorted by ``sort_by`` or by creation."""
    user_name = None if node is None or sort_by is not None else user_name_equal(node)
    if user_name is not None:  # an IdP's lookup: its clause is known without compiling
        return Selection(USER_NAME_IS, CREATED, nullable=False, user_name=user_name)
    where = None if node is None else filter_clause(node, resource_type, tenant_id)
    if sort_by is None:
        return Selection(where, CREATED, nullable=False)
    return Selection(where, sort_key(sort_by, resource_type), nullable=True)
