"""Compile a parsed SCIM filter to a SQLAlchemy WHERE clause over ``Resource``.

The clause selects exactly the resources whose canonical document
``scimserver.scim.filter.matches`` accepts (a differential test pins this). Where a
value lives decides the SQL:

- ``id``, ``meta.created``, ``meta.lastModified``, ``meta.resourceType``: Resource columns;
  ``userName eq`` uses ``user_name_key`` (the case-folded userName);
- Group ``members`` and User ``groups``: ``EXISTS`` over Membership; a member's
  ``display`` is its displayName, else its userName, read from the value index;
- everything else: ``EXISTS`` over the value index (``AttributeValue``), where a value
  path correlates the sub-attributes of one element through equal ``ordinal``s.

Every comparison is TRUE or FALSE, never NULL (column tests are on NOT NULL columns,
the rest sit inside EXISTS), so ``not`` and ``ne`` (``not eq``) match the Python
evaluator. Values are bound parameters; LIKE wildcards are escaped. Resource ids are
server-made lowercase UUIDs, so the caseExact=false ``members.value``/``groups.value``
compare the stored id with the case-folded value, which keeps the primary key usable.
String ordering is by code point on both databases (``COLLATE "C"`` on PostgreSQL).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    collate,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from scimserver.errors import InvalidValue
from scimserver.schema.model import CORE_USER, Attribute, AttrRef, ResourceType
from scimserver.scim.filter import (
    And,
    Compare,
    ElementRef,
    FilterNode,
    Not,
    Or,
    Present,
    ValuePath,
    compare_values,
)
from scimserver.scim.values import indexed_subs, typed
from scimserver.store.models import STR_KEY_LENGTH, AttributeValue, Membership, Resource

_ORDER: Mapping[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


class codepoint(FunctionElement[str]):  # lowercase: it reads as a SQL function
    """A string expression that orders by code point, as Python's ``str`` comparison does."""

    type = String()
    inherit_cache = True


@compiles(codepoint)
def _codepoint(element: codepoint, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite's default BINARY collation compares UTF-8 bytes: code point order already."""
    (argument,) = element.clauses
    return compiler.process(argument, **kw)


@compiles(codepoint, "postgresql")
def _codepoint_postgresql(element: codepoint, compiler: SQLCompiler, **kw: Any) -> str:
    (argument,) = element.clauses
    return compiler.process(collate(argument, "C"), **kw)


# --- Where values live -----------------------------------------------------------------

# Core tables, not ORM classes: much cheaper to build expressions on.
RESOURCES = Resource.__table__
VALUES = AttributeValue.__table__
MEMBERSHIPS = Membership.__table__
ANCHOR = VALUES.alias("element")
"""A value path's element; value paths never nest, so one alias serves every query."""
COLUMNS: Mapping[str, Any] = {
    "id": RESOURCES.c.id,
    "meta.created": RESOURCES.c.created,
    "meta.lastmodified": RESOURCES.c.last_modified,
    "meta.resourcetype": RESOURCES.c.resource_type,
}


@dataclass(frozen=True)
class _Side:
    """How one resource type sees the membership table."""

    own: str
    other: str
    fixed_type: str | None = None


MEMBERS = _Side(own="group_id", other="member_id")
GROUPS = _Side(own="member_id", other="group_id", fixed_type="direct")


def _column(ref: AttrRef) -> Any | None:
    if isinstance(ref, ElementRef) or ref.schema is not None:
        return None
    return COLUMNS.get(ref.key)


def _membership(ref: AttrRef, resource_type: ResourceType) -> _Side | None:
    """The membership table's side ``ref`` reads (``members`` or ``groups``), if any."""
    if isinstance(ref, ElementRef) or not resource_type.in_memberships(
        ref.attribute, ref.is_extension
    ):
        return None
    return MEMBERS if ref.attribute.name == "members" else GROUPS


def user_name_equal(node: FilterNode) -> str | None:
    """The userName key when ``node`` is just ``userName eq "x"`` (an IdP's lookup), else None."""
    if isinstance(node, Compare) and node.op == "eq" and _is_user_name(node.ref):
        key = typed(node.ref.leaf, node.value)
        return key if isinstance(key, str) else None
    return None


def user_name_is(key: Any) -> ColumnElement[bool]:
    """The clause ``userName eq`` compiles to."""
    column = RESOURCES.c.user_name_key
    return and_(column.is_not(None), column == key)


USER_NAME_IS = user_name_is(bindparam("user_name"))
"""The same, built once: run it with ``{"user_name": key}`` (building an expression
costs more than a lookup's query)."""


def _is_user_name(ref: AttrRef) -> bool:
    schema = ref.schema
    return schema is not None and schema.id == CORE_USER and ref.key == "username"


def _sub_keys(ref: AttrRef) -> list[str]:
    """Index paths of a complex attribute's sub-attributes (``emails.value``, …)."""
    return [replace(ref, sub=sub).key for sub in indexed_subs(ref.attribute)]


# --- Typed comparisons -----------------------------------------------------------------


def _string_test(
    column: Any, op: str, expected: str, key: Any | None = None
) -> ColumnElement[bool]:
    if op == "eq":
        test = column == expected
        return test if key is None else and_(key == expected[:STR_KEY_LENGTH], test)
    if op == "co":
        return column.contains(expected, autoescape=True)  # type: ignore[no-any-return]
    if op == "sw":
        return column.startswith(expected, autoescape=True)  # type: ignore[no-any-return]
    if op == "ew":
        return column.endswith(expected, autoescape=True)  # type: ignore[no-any-return]
    return _ORDER[op](codepoint(column), expected)  # type: ignore[no-any-return]


def _typed_test(
    columns: tuple[Any, Any, Any, Any], op: str, expected: Any, key: Any | None = None
) -> ColumnElement[bool]:
    """Compare the column of ``expected``'s type: (str, num, time, bool) columns."""
    text, number, moment, flag = columns
    if isinstance(expected, str):
        return _string_test(text, op, expected, key)
    if isinstance(expected, bool):
        return flag == expected  # type: ignore[no-any-return]
    column = number if isinstance(expected, float) else moment
    return _ORDER[op](column, expected)  # type: ignore[no-any-return]


def _index_test(leaf: Attribute, op: str, raw: Any) -> ColumnElement[bool]:
    """``op`` on the value-index row's column for ``leaf``'s type."""
    c = VALUES.c
    columns = (c.str_value, c.num_value, c.time_value, c.bool_value)
    return _typed_test(columns, op, typed(leaf, raw), key=c.str_key)


def _column_test(column: Any, leaf: Attribute, op: str, raw: Any) -> ColumnElement[bool]:
    return _typed_test((column, column, column, column), op, typed(leaf, raw))


def _exists(table: Any, *where: ColumnElement[bool]) -> ColumnElement[bool]:
    """EXISTS a row of ``table``, correlated to whatever encloses it, never to ``table``."""
    return select(true()).select_from(table).where(*where).correlate_except(table).exists()


def _owned(owner: Any, *where: ColumnElement[bool]) -> ColumnElement[bool]:
    """``resources.id IN (SELECT owner … WHERE …)``: the rows of a table a resource owns.

    Uncorrelated, so the planner runs the indexed lookup once and probes resources by
    primary key; SQLite would otherwise probe a correlated EXISTS for every resource.
    ``owner`` is never NULL, so ``NOT IN`` means the same as ``NOT EXISTS``.
    """
    return RESOURCES.c.id.in_(select(owner).where(*where))


# --- The compiler ----------------------------------------------------------------------


@dataclass(frozen=True)
class _IndexElement:
    """Inside ``attr[...]`` on the value index: rows with ANCHOR's resource and ordinal."""


@dataclass(frozen=True)
class _MemberElement:
    """Inside ``members[...]`` / ``groups[...]``: the enclosing membership row."""

    side: _Side


_Element = _IndexElement | _MemberElement | None


class _Compiler:
    """One ``_compile_<node>`` method per AST node; ``element`` is the enclosing value path."""

    def __init__(self, tenant_id: int, resource_type: ResourceType) -> None:
        self.tenant_id = tenant_id
        self.type = resource_type

    def compile(self, node: FilterNode, element: _Element) -> ColumnElement[bool]:
        match node:
            case And():
                return self._compile_and(node, element)
            case Or():
                return self._compile_or(node, element)
            case Not():
                return self._compile_not(node, element)
            case Present():
                return self._compile_present(node, element)
            case Compare():
                return self._compile_compare(node, element)
            case ValuePath():
                return self._compile_value_path(node)
        raise TypeError(f"not a filter node: {node!r}")

    def _compile_and(self, node: And, element: _Element) -> ColumnElement[bool]:
        return and_(self.compile(node.left, element), self.compile(node.right, element))

    def _compile_or(self, node: Or, element: _Element) -> ColumnElement[bool]:
        return or_(self.compile(node.left, element), self.compile(node.right, element))

    def _compile_not(self, node: Not, element: _Element) -> ColumnElement[bool]:
        return not_(self.compile(node.node, element))

    def _compile_compare(self, node: Compare, element: _Element) -> ColumnElement[bool]:
        if node.op == "ne":
            return not_(self._test(node.ref, "eq", node.value, element))
        return self._test(node.ref, node.op, node.value, element)

    def _compile_present(self, node: Present, element: _Element) -> ColumnElement[bool]:
        ref = node.ref
        if isinstance(element, _MemberElement):
            return self._member_present(element.side, ref)
        side = _membership(ref, self.type)
        if side is not None:
            return self._member_exists(side, self._member_present(side, ref))
        if _column(ref) is not None:
            return true()
        keys = _sub_keys(ref) if ref.sub is None and ref.attribute.is_complex else [ref.key]
        return self._index_exists(keys, element)

    def _compile_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        side = _membership(node.ref, self.type)
        if side is not None:
            return self._member_exists(side, self.compile(node.filter, _MemberElement(side)))
        return _owned(
            ANCHOR.c.resource_id,
            ANCHOR.c.tenant_id == self.tenant_id,
            ANCHOR.c.path.in_(_sub_keys(node.ref)),
            self.compile(node.filter, _IndexElement()),
        )

    def _test(self, ref: AttrRef, op: str, raw: Any, element: _Element) -> ColumnElement[bool]:
        """``ref op raw`` for ``op`` other than ``ne``."""
        if isinstance(element, _MemberElement):
            return self._member_test(element.side, ref, op, raw)
        side = _membership(ref, self.type)
        if side is not None:
            return self._member_exists(side, self._member_test(side, ref, op, raw))
        column = _column(ref)
        if column is not None:
            return _column_test(column, ref.leaf, op, raw)
        if op == "eq" and _is_user_name(ref):
            return user_name_is(typed(ref.leaf, raw))
        return self._index_exists([ref.key], element, _index_test(ref.leaf, op, raw))

    def _index_exists(
        self, keys: Sequence[str], element: _Element, *tests: ColumnElement[bool]
    ) -> ColumnElement[bool]:
        """EXISTS an index row at one of ``keys`` (of the element, if any) passing ``tests``."""
        c = VALUES.c
        path = c.path == keys[0] if len(keys) == 1 else c.path.in_(keys)
        if not isinstance(element, _IndexElement):
            return _owned(c.resource_id, c.tenant_id == self.tenant_id, path, *tests)
        owner = [c.resource_id == ANCHOR.c.resource_id, c.ordinal == ANCHOR.c.ordinal]
        return _exists(VALUES, c.tenant_id == self.tenant_id, path, *owner, *tests)

    def _member_exists(self, side: _Side, test: ColumnElement[bool]) -> ColumnElement[bool]:
        return _owned(MEMBERSHIPS.c[side.own], MEMBERSHIPS.c.tenant_id == self.tenant_id, test)

    def _member_present(self, side: _Side, ref: AttrRef) -> ColumnElement[bool]:
        if ref.sub is None or ref.sub.name != "display":
            return true()
        if side is MEMBERS:
            return and_(MEMBERSHIPS.c.display_key.is_not(None), MEMBERSHIPS.c.display_key != "")
        other = MEMBERSHIPS.c[side.other]
        return or_(self._other_value(other, "displayname"), self._other_value(other, "username"))

    def _member_test(self, side: _Side, ref: AttrRef, op: str, raw: Any) -> ColumnElement[bool]:
        sub = ref.sub
        assert sub is not None
        expected = typed(sub, raw)
        assert isinstance(expected, str)
        if sub.name == "value":
            return _string_test(MEMBERSHIPS.c[side.other], op, expected)
        if sub.name == "type" and side.fixed_type is not None:
            fixed = typed(sub, side.fixed_type)
            return true() if compare_values(op, fixed, expected) else false()
        if sub.name == "type":
            return _string_test(func.lower(MEMBERSHIPS.c.member_type), op, expected)
        if side is MEMBERS:
            key = MEMBERSHIPS.c.display_key
            return and_(key.is_not(None), _string_test(key, op, expected))
        return self._display_test(MEMBERSHIPS.c[side.other], op, expected)

    def _display_test(self, other_id: Any, op: str, expected: str) -> ColumnElement[bool]:
        """A group's display (in User.groups) is its displayName, else its userName."""
        test = _string_test(VALUES.c.str_value, op, expected, VALUES.c.str_key)
        return or_(
            self._other_value(other_id, "displayname", test),
            and_(
                not_(self._other_value(other_id, "displayname")),
                self._other_value(other_id, "username", test),
            ),
        )

    def _other_value(
        self, other_id: Any, path: str, *tests: ColumnElement[bool]
    ) -> ColumnElement[bool]:
        """EXISTS an index row of another resource (a member or a group) at ``path``."""
        c = VALUES.c
        return _exists(
            VALUES, c.resource_id == other_id, c.tenant_id == self.tenant_id, c.path == path, *tests
        )


def filter_clause(
    node: FilterNode, resource_type: ResourceType, tenant_id: int
) -> ColumnElement[bool]:
    """A WHERE clause for ``select(Resource)`` (already limited to the tenant and type).

    ``node`` carries attributes resolved against ``resource_type``, so the type itself
    is not consulted again.
    """
    return _Compiler(tenant_id, resource_type).compile(node, None)


# --- Sorting ---------------------------------------------------------------------------


def sort_key(ref: AttrRef, resource_type: ResourceType) -> ColumnElement[Any]:
    """An ORDER BY expression for ``sortBy``; NULL when the resource has no value.

    Multi-valued attributes sort by their smallest value. Strings order by code point on
    both databases. Callers put ``key.is_(None)`` first so NULLs sort last when ascending.
    """
    if isinstance(ref, ElementRef) or _membership(ref, resource_type) is not None:
        raise InvalidValue(f"Resources cannot be sorted by '{ref.dotted}'.")
    if ref.leaf.is_complex:
        sub = ref.attribute.sub("value")
        if sub is None:
            raise InvalidValue(f"'{ref.dotted}' is complex: sort by one of its sub-attributes.")
        ref = replace(ref, sub=sub)
    column = _column(ref)
    if column is None and _is_user_name(ref):
        column = RESOURCES.c.user_name_key
    if column is not None:
        return codepoint(column) if ref.leaf.is_string else column
    return _indexed_sort_key(ref)


def _indexed_sort_key(ref: AttrRef) -> ColumnElement[Any]:
    c = VALUES.c
    leaf = ref.leaf
    smallest: Any
    if leaf.is_string:
        smallest = codepoint(func.min(codepoint(c.str_value)))
    elif leaf.type in ("integer", "decimal"):
        smallest = func.min(c.num_value)
    elif leaf.type == "dateTime":
        smallest = func.min(c.time_value)
    else:
        smallest = func.min(cast(c.bool_value, Integer))
    query = select(smallest).where(c.resource_id == RESOURCES.c.id, c.path == ref.key)
    return query.correlate_except(VALUES).scalar_subquery()
