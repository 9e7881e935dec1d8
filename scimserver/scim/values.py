"""Typed, normalised leaf values of a resource document: the value index and its rules.

The store keeps one ``IndexedValue`` row per non-empty leaf value so that filters on
any attribute can use an index. The filter evaluator (``scimserver.scim.filter``) uses
the same helpers, so a document matches in Python exactly when its rows match in SQL:

- empty values (None, "", [], {}) are absent: they get no row and never compare;
- strings are ``str.casefold``-ed unless the attribute is caseExact;
- numbers are floats; dateTimes are naive UTC (an offset-less dateTime is UTC);
- a value of the wrong JSON type still gets a row (so ``pr`` sees it) but no typed value.

The store writes ``str_key = str_value[:STR_KEY_LENGTH]`` and compares both, so long
strings stay indexable.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scimserver.schema.datatypes import is_unassigned, parse_datetime
from scimserver.schema.model import (
    COMMON,
    Attribute,
    AttrRef,
    ResourceType,
)

STR_KEY_LENGTH = 128
"""Length of the indexed prefix ``str_key`` of ``str_value`` (mirrors the store's column)."""

SCHEMAS = "schemas"
"""The pseudo-attribute listing a resource's schema URNs, filterable as RFC 7644 Figure 2 shows."""

Typed = str | float | datetime | bool
"""A normalised, comparable leaf value."""


@dataclass(frozen=True)
class IndexedValue:
    """One row of the value index: a leaf value, typed by its attribute's type."""

    path: str
    ordinal: int
    str_value: str | None = None
    num_value: float | None = None
    time_value: datetime | None = None
    bool_value: bool | None = None


def normalise_string(attr: Attribute, value: str) -> str:
    """The form a string is stored and compared in: case-folded unless caseExact."""
    return value if attr.case_exact else value.casefold()


def is_empty(value: Any) -> bool:
    """Whether a value is absent to filters and the index: unassigned, "" or {}.

    Wider than RFC 7643 §2.5 because ``pr`` matches only a non-empty value or a complex
    value with a non-empty sub-attribute (RFC 7644 §3.4.2.2).
    """
    return is_unassigned(value, blank_string=True, empty_object=True)


def typed(attr: Attribute, value: Any) -> Typed | None:
    """``value`` normalised for comparison by ``attr``'s type; None if it has the wrong type."""
    if attr.is_string:
        return normalise_string(attr, value) if isinstance(value, str) else None
    if attr.type == "boolean":
        return value if isinstance(value, bool) else None
    if attr.type in ("integer", "decimal"):
        return _number(value)
    if attr.type == "dateTime":
        return _naive_utc(value)
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _naive_utc(value: Any) -> datetime | None:
    moment = parse_datetime(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        return None
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        return None


def elements(attr: Attribute, value: Any) -> list[Any]:
    """The values of an attribute as a list: its elements if multi-valued, else [value]."""
    if value is None:
        return []
    if attr.multi_valued and isinstance(value, list):
        return value
    return [value]


def has_content(attr: Attribute, element: Any) -> bool:
    """Whether an element of a complex attribute holds a non-empty, indexed sub-attribute."""
    if not isinstance(element, Mapping):
        return False
    return any(not is_empty(element.get(s.name)) for s in indexed_subs(attr))


def indexed_subs(attr: Attribute) -> tuple[Attribute, ...]:
    """Sub-attributes of a complex attribute that are indexed and filterable."""
    return tuple(s for s in attr.sub_attributes if s.returned != "never")


def schemas_attribute(resource_type: ResourceType) -> Attribute:
    """The ``schemas`` pseudo-attribute; its canonical values are the type's schema URNs."""
    return Attribute(
        name=SCHEMAS,
        type="reference",
        multi_valued=True,
        mutability="readOnly",
        canonical_values=tuple(s.id for s in resource_type.schemas),
    )


def document_schemas(schema_ids: Sequence[str], document: Mapping[str, Any]) -> list[str]:
    """The core schema, then each extension the document lists or holds data for."""
    core, *extensions = schema_ids
    raw = document.get(SCHEMAS)
    listed = {s.lower() for s in raw if isinstance(s, str)} if isinstance(raw, list) else set()
    return [core, *(e for e in extensions if e.lower() in listed or _holds(document.get(e)))]


def _holds(value: Any) -> bool:
    return isinstance(value, Mapping) and any(not is_empty(v) for v in value.values())


def index_values(resource_type: ResourceType, document: Mapping[str, Any]) -> list[IndexedValue]:
    """One row per non-empty leaf value of a stored document (not id, meta, members, groups)."""
    rows = [row for ref in _indexed_refs(resource_type) for row in _rows(ref, document)]
    pseudo = schemas_attribute(resource_type)
    schema_ids = document_schemas(pseudo.canonical_values, document)
    rows.extend(_row(SCHEMAS, i, pseudo, urn) for i, urn in enumerate(schema_ids))
    return rows


def changed_values(
    resource_type: ResourceType, old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[list[IndexedValue], list[IndexedValue]]:
    """The rows of ``old`` and of ``new`` for the attributes whose values differ.

    An attribute stored unchanged has the same rows in both documents, so neither list
    holds them: what an update must delete and insert is found among these alone.
    """
    before: list[IndexedValue] = []
    after: list[IndexedValue] = []
    for ref in _indexed_refs(resource_type):
        if _stored(ref, old) != _stored(ref, new):
            before.extend(_rows(ref, old))
            after.extend(_rows(ref, new))
    pseudo = schemas_attribute(resource_type)
    old_ids = document_schemas(pseudo.canonical_values, old)
    new_ids = document_schemas(pseudo.canonical_values, new)
    if old_ids != new_ids:
        before.extend(_row(SCHEMAS, i, pseudo, urn) for i, urn in enumerate(old_ids))
        after.extend(_row(SCHEMAS, i, pseudo, urn) for i, urn in enumerate(new_ids))
    return before, after


def _stored(ref: AttrRef, document: Mapping[str, Any]) -> Any:
    container = ref.container(document)
    return None if container is None else container.get(ref.attribute.name)


def _indexed_refs(resource_type: ResourceType) -> Iterator[AttrRef]:
    yield AttrRef(None, COMMON["externalid"])
    for schema in resource_type.schemas:
        extension = schema is not resource_type.schema
        for attr in schema.attributes:
            if attr.returned != "never" and not resource_type.in_memberships(attr, extension):
                yield AttrRef(schema, attr, _extension=extension)


def _rows(ref: AttrRef, document: Mapping[str, Any]) -> Iterator[IndexedValue]:
    container = ref.container(document)
    if container is None:
        return
    attr = ref.attribute
    for ordinal, element in enumerate(elements(attr, container.get(attr.name))):
        if not attr.is_complex:
            if not is_empty(element):
                yield _row(ref.key, ordinal, attr, element)
        elif isinstance(element, Mapping):
            yield from _sub_rows(ref, ordinal, element)


def _sub_rows(ref: AttrRef, ordinal: int, element: Mapping[str, Any]) -> Iterator[IndexedValue]:
    for sub in indexed_subs(ref.attribute):
        value = element.get(sub.name)
        if not is_empty(value):
            yield _row(f"{ref.key}.{sub.name.lower()}", ordinal, sub, value)


def _row(path: str, ordinal: int, attr: Attribute, value: Any) -> IndexedValue:
    normal = typed(attr, value)
    return IndexedValue(
        path=path,
        ordinal=ordinal,
        str_value=normal if isinstance(normal, str) else None,
        num_value=normal if isinstance(normal, float) else None,
        time_value=normal if isinstance(normal, datetime) else None,
        bool_value=normal if isinstance(normal, bool) else None,
    )
