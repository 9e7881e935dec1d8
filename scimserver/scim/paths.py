"""PATCH paths (RFC 7644 §3.5.2, Figure 1): ``[urn:]attr[.sub]`` or ``attr[filter][.sub]``.

A path may also be a bare schema URN (``urn:…:enterprise:2.0:User``): it names that
schema's whole object, which IdPs send as one nested value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from scimserver.errors import InvalidFilter, InvalidPath
from scimserver.schema.model import Attribute, AttrRef, ResourceType, Schema
from scimserver.scim.filter import FilterNode, parse_filter

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[()]|[^\s()"]+')
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}


@dataclass(frozen=True)
class PatchPath:
    """A parsed path: ``ref`` is None only when the path is a schema URN (``schema``).

    For ``emails[type eq "work"].value``, ``ref`` is ``emails`` with ``ref.sub`` ``value``
    and ``filter`` selects the elements.
    """

    text: str
    schema: Schema | None
    ref: AttrRef | None
    filter: FilterNode | None = None
    filter_text: str | None = None


@dataclass(frozen=True)
class Equalities:
    """A filter of the shape ``a eq "x" and b eq "y"`` (or all ``or``), canonical names."""

    connector: str
    clauses: tuple[tuple[str, Any], ...]


def parse_path(text: str, resource_type: ResourceType) -> PatchPath:
    """Parse and resolve a PATCH path; InvalidPath when malformed or unknown."""
    text = text.strip()
    if "[" in text:
        return _value_path(text, resource_type)
    schema, rest = resource_type.split_urn(text)
    if schema is not None and not rest:
        return PatchPath(text, schema, None)
    ref = resource_type.resolve(text)
    if ref is None:
        raise InvalidPath(_unknown(text, resource_type))
    return PatchPath(text, ref.schema, ref)


def _unknown(text: str, resource_type: ResourceType) -> str:
    """Why ``text`` did not resolve, as a client-facing sentence."""
    schema, rest = resource_type.split_urn(text)
    head, dot, _ = rest.partition(".")
    prefix = f"{schema.id}:{head}" if schema is not None else head
    parent = resource_type.resolve(prefix) if dot and head else None
    if parent is not None and not parent.attribute.is_complex:
        return f"Path {text!r}: {parent.attribute.name} has no sub-attributes."
    return f"Path {text!r} names no attribute of {resource_type.name}."


def _value_path(text: str, resource_type: ResourceType) -> PatchPath:
    """``attr[filter]`` with an optional ``.sub`` after the bracket."""
    start = text.index("[")
    end = _closing_bracket(text, start)
    ref = resource_type.resolve(text[:start])
    if ref is None or ref.sub is not None:
        raise InvalidPath(_unknown(text[:start], resource_type))
    if not (ref.attribute.multi_valued and ref.attribute.is_complex):
        raise InvalidPath(f"Path {text!r}: only multi-valued complex attributes take a filter.")
    filter_text = text[start + 1 : end]
    try:
        node = parse_filter(filter_text, resource_type, parent=ref)
    except InvalidFilter as exc:
        raise InvalidPath(f"Path {text!r}: {exc.detail}") from exc
    sub = _trailing_sub(text, end, ref.attribute)
    return PatchPath(text, ref.schema, replace(ref, sub=sub), node, filter_text)


def _closing_bracket(text: str, start: int) -> int:
    """Index of the ``]`` closing the filter that opens at ``start``, skipping string literals."""
    in_string = False
    index = start + 1
    while index < len(text):
        char = text[index]
        if in_string and char == "\\":
            index += 2
            continue
        if char == '"':
            in_string = not in_string
        elif not in_string and char in "[]":
            if char == "]":
                return index
            break
        index += 1
    raise InvalidPath(f"Path {text!r}: unbalanced or nested brackets.")


def _trailing_sub(text: str, end: int, attribute: Attribute) -> Attribute | None:
    """The ``.sub`` after ``]``, if any."""
    rest = text[end + 1 :]
    if not rest:
        return None
    sub = attribute.sub(rest[1:]) if rest.startswith(".") else None
    if sub is None:
        raise InvalidPath(f"Path {text!r}: {rest!r} is not a sub-attribute of {attribute.name}.")
    return sub


def equalities(filter_text: str, attribute: Attribute) -> Equalities | None:
    """Recognise ``sub eq literal`` clauses joined by one connector; None for anything else."""
    tokens = _tokens(filter_text)
    if tokens is None or len(tokens) % 4 != 3:
        return None
    connectors = {t.lower() for t in tokens[3::4]}
    if not connectors <= {"and", "or"} or len(connectors) > 1:
        return None
    clauses = [_clause(attribute, tokens[i : i + 3]) for i in range(0, len(tokens), 4)]
    if any(c is None for c in clauses):
        return None
    return Equalities(connectors.pop() if connectors else "and", tuple(c for c in clauses if c))


def _tokens(text: str) -> list[str] | None:
    """Split a filter into words, string literals and parentheses; None if anything is left over."""
    tokens: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        if text[position : match.start()].strip():
            return None
        tokens.append(match.group())
        position = match.end()
    return tokens if not text[position:].strip() else None


def _clause(attribute: Attribute, tokens: list[str]) -> tuple[str, Any] | None:
    """``name eq literal`` as (canonical sub name, value)."""
    name, operator, literal = tokens
    sub = attribute.sub(name)
    if sub is None or operator.lower() != "eq" or literal in ("(", ")"):
        return None
    if literal.lower() in _LITERALS:
        return sub.name, _LITERALS[literal.lower()]
    try:
        return sub.name, json.loads(literal)
    except ValueError:
        return None
