"""SCIM filters (RFC 7644 §3.4.2.2): parse into a typed AST, evaluate over documents.

``parse_filter`` tokenises with a fixed subclass of scim2-filter-parser's lexer, parses
with its parser and converts the result into the small AST below, resolving every
attribute against the resource type (so unknown names, wrong value types and
unsupported operators fail early with ``InvalidFilter``). ``matches`` evaluates that
AST over a canonical document; ``scimserver.store.filter_sql`` compiles the same AST to
SQL and is tested to select exactly the documents ``matches`` accepts.

Choices where the RFC is silent or loose:

- ``a ne v`` means ``not (a eq v)``: a resource without ``a`` matches, and on a
  multi-valued attribute ``emails.value ne v`` means "no email equals v".
- Empty values ("", null, [], {}) count as absent: they never compare and are not ``pr``.
- ``a eq null`` means ``not (a pr)`` and ``a ne null`` means ``a pr``.
- A complex attribute compared without a sub-attribute means its ``value``
  sub-attribute (``emails co "x"``, ``members eq "id"``); ``pr`` on it asks whether
  some element holds a non-empty sub-attribute.
- A value path ``attr[...]`` ranges over the non-empty elements of ``attr``; Entra's
  ``attr[f].sub op v`` is read as ``attr[f and sub op v]``.
- ``schemas eq "urn"`` matches the core schema, and an extension the resource lists in
  ``schemas`` or holds data for.
- Strings compare after ``str.casefold`` unless caseExact, and order by code point;
  numbers compare as floats; dateTimes as UTC instants (no offset means UTC).
- ``gt/ge/lt/le`` are refused on booleans and binaries, ``co/sw/ew`` on anything but
  strings; ``password`` (returned never), ``meta.location``, ``meta.version`` and the
  ``$ref`` of members and groups cannot be filtered on.
- ``and``/``or`` chains are rebuilt as balanced trees (same meaning, shallow recursion).
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from scim2_filter_parser import ast
from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError

from scimserver.errors import InvalidFilter
from scimserver.schema.datatypes import parse_datetime
from scimserver.schema.model import AttrRef, ResourceType
from scimserver.scim.values import (
    SCHEMAS,
    Typed,
    document_schemas,
    elements,
    has_content,
    is_empty,
    schemas_attribute,
    typed,
)

MAX_LENGTH = 4096
MAX_DEPTH = 32
MAX_COMPARISONS = 200

OPERATOR_TOKENS = frozenset({"EQ", "NE", "CO", "SW", "EW", "GT", "GE", "LT", "LE", "PR"})
ORDERING = frozenset({"gt", "ge", "lt", "le"})
SUBSTRING = frozenset({"co", "sw", "ew"})
ALLOWED_OPERATORS: Mapping[str, frozenset[str]] = {
    "string": frozenset({"eq", "ne"}) | SUBSTRING | ORDERING,
    "reference": frozenset({"eq", "ne"}) | SUBSTRING | ORDERING,
    "binary": frozenset({"eq", "ne"}) | SUBSTRING,
    "boolean": frozenset({"eq", "ne"}),
    "integer": frozenset({"eq", "ne"}) | ORDERING,
    "decimal": frozenset({"eq", "ne"}) | ORDERING,
    "dateTime": frozenset({"eq", "ne"}) | ORDERING,
}
UNFILTERABLE = frozenset({"meta.location", "meta.version", "members.$ref", "groups.$ref"})
_WORD_END = r"(?![A-Za-z0-9_$-])"


# --- The AST -------------------------------------------------------------------------


class FilterNode:
    """Base of the filter AST; its repr is the canonical filter text."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}<{unparse(self)}>"


@dataclass(frozen=True, repr=False)
class And(FilterNode):
    left: FilterNode
    right: FilterNode


@dataclass(frozen=True, repr=False)
class Or(FilterNode):
    left: FilterNode
    right: FilterNode


@dataclass(frozen=True, repr=False)
class Not(FilterNode):
    node: FilterNode


@dataclass(frozen=True, repr=False)
class Compare(FilterNode):
    """``ref op value``; ``value`` keeps its JSON type, dateTimes are aware UTC datetimes."""

    ref: AttrRef
    op: str
    value: Any


@dataclass(frozen=True, repr=False)
class Present(FilterNode):
    ref: AttrRef


@dataclass(frozen=True, repr=False)
class ValuePath(FilterNode):
    """``ref[filter]``: one element of ``ref`` satisfies ``filter`` (whose refs are ElementRefs)."""

    ref: AttrRef
    filter: FilterNode


@dataclass(frozen=True)
class ElementRef(AttrRef):
    """A sub-attribute read from one element of a complex attribute, not from a document."""


# --- Lexing --------------------------------------------------------------------------


def _token(pattern: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach a sly token pattern to a method (sly's own ``_`` decorator, typed)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func.pattern = pattern  # type: ignore[attr-defined]
        return func

    return decorate


class _Lexer(SCIMLexer):  # type: ignore[misc]  # sly classes are untyped
    """The library's lexer with JSON values: any number, escaped strings, whole-word literals.

    Token values carry the Python value of the JSON literal, so ``"true"`` and ``true``
    stay distinguishable.
    """

    tokens = SCIMLexer.tokens

    @_token(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
    def NUMBER(self, token: Any) -> Any:
        text = token.value
        token.value = int(text) if text.lstrip("-").isdigit() else float(text)
        return token

    @_token(r'"(?:[^"\\]|\\.)*"')
    def COMP_VALUE(self, token: Any) -> Any:
        token.value = json.loads(token.value)
        return token

    @_token("true" + _WORD_END)
    def TRUE(self, token: Any) -> Any:
        token.value = True
        return token

    @_token("false" + _WORD_END)
    def FALSE(self, token: Any) -> Any:
        token.value = False
        return token

    @_token("null" + _WORD_END)
    def NULL(self, token: Any) -> Any:
        token.value = None
        return token


def _tokens(text: str) -> list[Any]:
    """Tokenise and enforce the depth and comparison limits before parsing."""
    tokens = list(_Lexer().tokenize(text))
    depth = comparisons = 0
    for token in tokens:
        depth += token.type in ("LPAREN", "LBRACKET")
        depth -= token.type in ("RPAREN", "RBRACKET")
        comparisons += token.type in OPERATOR_TOKENS
        if depth > MAX_DEPTH:
            raise InvalidFilter(f"The filter nests brackets deeper than {MAX_DEPTH}.")
    if comparisons > MAX_COMPARISONS:
        raise InvalidFilter(f"The filter has more than {MAX_COMPARISONS} comparisons.")
    return tokens


# --- Plain text search ---------------------------------------------------------------

TEXT_SEARCH_PATHS = ("userName", "displayName", "emails.value")


def text_search(text: str, resource_type: ResourceType) -> FilterNode:
    """A search box's words as a filter: contained in userName, displayName or an email.

    Built as the AST, not as filter text, so quotes or keywords in ``text`` are data.
    """
    if len(text) > MAX_LENGTH:
        raise InvalidFilter(f"The search is longer than {MAX_LENGTH} characters.")
    refs = [ref for path in TEXT_SEARCH_PATHS if (ref := resource_type.resolve(path))]
    if not refs:
        raise InvalidFilter(f"{resource_type.name} has no attribute to search in.")
    nodes: list[FilterNode] = [Compare(ref, "co", text) for ref in refs]
    return functools.reduce(Or, nodes)


# --- Parsing -------------------------------------------------------------------------


def parse_filter(
    text: str, resource_type: ResourceType, *, parent: AttrRef | None = None
) -> FilterNode:
    """Parse a filter; with ``parent``, a value filter over one element of that attribute."""
    if len(text) > MAX_LENGTH:
        raise InvalidFilter(f"The filter is longer than {MAX_LENGTH} characters.")
    if not text.strip():
        raise InvalidFilter("The filter is empty.")
    if parent is not None and (parent.sub is not None or not parent.attribute.is_complex):
        raise InvalidFilter(f"'{parent.dotted}' is not a complex attribute.")
    try:
        feed = _Feed(text)
    except ValueError as exc:
        raise InvalidFilter(f"The filter is not valid: {exc}") from exc
    try:
        tree = SCIMParser().parse(feed)
        return _Converter(resource_type, parent).visit(tree)
    except SCIMParserError as exc:
        raise InvalidFilter(feed.describe_error()) from exc
    except (ValueError, TypeError, IndexError, RecursionError) as exc:
        raise InvalidFilter(f"The filter is not valid: {exc}") from exc


class _Feed:
    """The token stream handed to the parser; remembers where the parser stopped."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = iter(_tokens(text))
        self.last: Any = None
        self.exhausted = False

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> Any:
        try:
            self.last = next(self.tokens)
        except StopIteration:
            self.exhausted = True
            raise
        return self.last

    def describe_error(self) -> str:
        if self.exhausted or self.last is None:
            return "The filter is not valid: it ends too early."
        found = self.text[self.last.index : self.last.end]
        return f"The filter is not valid: unexpected '{found}' at position {self.last.index}."


class _Converter:
    """Turns the library's AST into ours; ``scope`` is set inside ``attr[...]``."""

    def __init__(self, resource_type: ResourceType, scope: AttrRef | None) -> None:
        self.resource_type = resource_type
        self.scope = scope

    def visit(self, node: Any) -> FilterNode:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise InvalidFilter("The filter is not valid: it is incomplete.")
        result: FilterNode = method(node)
        return result

    def visit_Filter(self, node: ast.Filter) -> FilterNode:
        if node.namespace is not None:
            return self._value_path(node.namespace, node.expr)
        inner = self.visit(node.expr)
        return Not(inner) if node.negated else inner

    def visit_LogExpr(self, node: ast.LogExpr) -> FilterNode:
        """Rebuild the chain with ``and`` binding tighter than ``or`` (the parser ties them)."""
        items = list(_chain(node))
        groups: list[list[FilterNode]] = [[self.visit(items[0])]]
        for op, operand in zip(items[1::2], items[2::2], strict=True):
            if op == "or":
                groups.append([])
            groups[-1].append(self.visit(operand))
        return _balanced(Or, [_balanced(And, group) for group in groups])

    def visit_AttrExpr(self, node: ast.AttrExpr) -> FilterNode:
        op = str(node.value).lower()
        path = node.attr_path
        if isinstance(path.attr_name, ast.Filter):
            return self._entra_value_path(path.attr_name, node)
        ref = self._resolve(path)
        if op == "pr":
            return Present(ref)
        return self._compare(ref, op, node.comp_value.value)

    def _value_path(self, namespace: ast.AttrPath, expr: Any) -> FilterNode:
        if namespace.sub_attr is not None:
            raise InvalidFilter("A value filter [...] must follow a complex attribute.")
        base = self._complex(namespace)
        return ValuePath(base, _Converter(self.resource_type, base).visit(expr))

    def _entra_value_path(self, value_path: ast.Filter, node: ast.AttrExpr) -> FilterNode:
        """``attr[f].sub op v`` → ``attr[f and sub op v]``."""
        namespace = value_path.namespace
        if namespace.sub_attr is None:
            raise InvalidFilter("A value filter [...] cannot be compared; name a sub-attribute.")
        base = self._complex(ast.AttrPath(namespace.attr_name, None, namespace.uri))
        scoped = _Converter(self.resource_type, base)
        last = ast.AttrExpr(
            node.value, ast.AttrPath(namespace.sub_attr.value, None, None), node.comp_value
        )
        return ValuePath(base, And(scoped.visit(value_path.expr), scoped.visit(last)))

    def _complex(self, path: ast.AttrPath) -> AttrRef:
        if self.scope is not None:
            raise InvalidFilter("Value filters [...] cannot be nested.")
        ref = self._resolve(path)
        if ref.sub is not None or not ref.attribute.is_complex:
            raise InvalidFilter(f"'{ref.dotted}' is not a complex attribute; [...] needs one.")
        return ref

    def _resolve(self, path: ast.AttrPath) -> AttrRef:
        text = _path_text(path)
        ref = self._scoped(path, text) if self.scope is not None else self._top(text)
        if ref.leaf.returned == "never" or ref.key in UNFILTERABLE:
            raise InvalidFilter(f"Filtering on '{ref.dotted}' is not supported.")
        if ref.attribute.name == "meta" and ref.sub is None and ref.schema is None:
            raise InvalidFilter("Filter on a sub-attribute of meta, such as meta.created.")
        return ref

    def _top(self, text: str) -> AttrRef:
        if text.lower() == SCHEMAS:
            return AttrRef(None, schemas_attribute(self.resource_type))
        ref = self.resource_type.resolve(text)
        if ref is None:
            raise InvalidFilter(f"Unknown attribute '{text}'.")
        return ref

    def _scoped(self, path: ast.AttrPath, text: str) -> AttrRef:
        scope = self.scope
        assert scope is not None
        sub = None if path.uri or path.sub_attr else scope.attribute.sub(str(path.attr_name))
        if sub is None:
            raise InvalidFilter(f"'{text}' is not a sub-attribute of '{scope.dotted}'.")
        return ElementRef(scope.schema, scope.attribute, sub, _extension=scope.is_extension)

    def _compare(self, ref: AttrRef, op: str, value: Any) -> FilterNode:
        if value is None and op in ("eq", "ne"):
            present = Present(ref)
            return present if op == "ne" else Not(present)
        ref = _value_sub(ref)
        if op not in ALLOWED_OPERATORS.get(ref.leaf.type, frozenset()):
            raise InvalidFilter(
                f"The operator '{op}' is not supported on {ref.leaf.type} attribute '{ref.dotted}'."
            )
        return Compare(ref, op, _coerce(ref, value))


def _path_text(path: ast.AttrPath) -> str:
    text = str(path.attr_name)
    if path.uri:
        text = f"{path.uri}:{text}"
    if path.sub_attr is not None:
        text = f"{text}.{path.sub_attr.value}"
    return text


def _chain(node: Any) -> Iterator[Any]:
    """Operands and lowercase operators of an unparenthesised and/or chain, in order."""
    if isinstance(node, ast.LogExpr):
        yield from _chain(node.expr1)
        yield str(node.op).lower()
        yield from _chain(node.expr2)
    elif _bare_chain(node):
        yield from _chain(node.expr)
    else:
        yield node


def _bare_chain(node: Any) -> bool:
    """A ``Filter`` that merely wraps a chain (parentheses wrap a ``Filter`` instead)."""
    return (
        isinstance(node, ast.Filter)
        and not node.negated
        and node.namespace is None
        and isinstance(node.expr, ast.LogExpr)
    )


def _balanced(kind: type[And] | type[Or], nodes: list[FilterNode]) -> FilterNode:
    if len(nodes) == 1:
        return nodes[0]
    middle = len(nodes) // 2
    return kind(_balanced(kind, nodes[:middle]), _balanced(kind, nodes[middle:]))


def _value_sub(ref: AttrRef) -> AttrRef:
    """A complex attribute compared directly stands for its ``value`` sub-attribute."""
    if not ref.leaf.is_complex:
        return ref
    sub = ref.attribute.sub("value")
    if sub is None:
        raise InvalidFilter(f"'{ref.dotted}' is complex: compare one of its sub-attributes.")
    return replace(ref, sub=sub)


def _coerce(ref: AttrRef, value: Any) -> Any:
    """The filter value checked against the attribute's type; dateTimes become datetimes."""
    leaf = ref.leaf
    if leaf.type == "dateTime" and isinstance(value, str):
        value = parse_datetime(value) or value
    if leaf.type == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if typed(leaf, value) is None or (leaf.type == "integer" and not isinstance(value, int)):
        raise InvalidFilter(
            f"{json.dumps(value, default=str)} is not a valid {leaf.type} for '{ref.dotted}'."
        )
    if isinstance(value, str) and not _storable(value):
        raise InvalidFilter(f"The value for '{ref.dotted}' contains characters not allowed.")
    return value


def _storable(text: str) -> bool:
    """No NUL (PostgreSQL text refuses it) and no lone surrogates (not UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


# --- Evaluation ----------------------------------------------------------------------

_ORDER: Mapping[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def named_by(node: FilterNode, names: frozenset[str]) -> Any:
    """The value of a top-level ``name eq value`` filter on one of ``names``, else None."""
    if isinstance(node, Compare) and node.op == "eq" and node.ref.sub is None:
        return node.value if node.ref.attribute.name in names else None
    return None


def matches(node: FilterNode, document: Mapping[str, Any]) -> bool:
    """Whether a canonical document (or, for ElementRefs, one element) satisfies ``node``."""
    match node:
        case And(left, right):
            return matches(left, document) and matches(right, document)
        case Or(left, right):
            return matches(left, document) or matches(right, document)
        case Not(inner):
            return not matches(inner, document)
        case Present(ref):
            return _present(ref, document)
        case Compare(ref, op, value):
            return _compare(ref, op, value, document)
        case ValuePath(ref, inner):
            return any(matches(inner, e) for e in _elements(ref, document))
    raise TypeError(f"not a filter node: {node!r}")


def _present(ref: AttrRef, document: Mapping[str, Any]) -> bool:
    if ref.sub is None and ref.attribute.is_complex:
        return any(has_content(ref.attribute, e) for e in _elements(ref, document))
    return bool(_leaves(ref, document))


def _compare(ref: AttrRef, op: str, value: Any, document: Mapping[str, Any]) -> bool:
    target = typed(ref.leaf, value)
    if target is None:
        return op == "ne"
    test = "eq" if op == "ne" else op
    found = any(compare_values(test, typed(ref.leaf, v), target) for v in _leaves(ref, document))
    return not found if op == "ne" else found


def compare_values(op: str, actual: Typed | None, expected: Typed) -> bool:
    """One typed comparison (``ne`` excluded: it is ``not eq``); False if ``actual`` is None."""
    if actual is None or type(actual) is not type(expected):
        return False
    if op == "eq":
        return actual == expected
    if op in _ORDER:
        return _ORDER[op](actual, expected)
    assert isinstance(actual, str) and isinstance(expected, str)
    if op == "co":
        return expected in actual
    return actual.startswith(expected) if op == "sw" else actual.endswith(expected)


def _elements(ref: AttrRef, document: Mapping[str, Any]) -> list[Any]:
    """Non-empty elements of a complex attribute (a singular one has at most one)."""
    container = ref.container(document) or {}
    found = elements(ref.attribute, container.get(ref.attribute.name))
    return [e for e in found if has_content(ref.attribute, e)]


def _leaves(ref: AttrRef, document: Mapping[str, Any]) -> list[Any]:
    """The non-empty values ``ref`` names in a document (or element, for an ElementRef)."""
    return [v for v in _raw_leaves(ref, document) if not is_empty(v)]


def _raw_leaves(ref: AttrRef, document: Mapping[str, Any]) -> list[Any]:
    if isinstance(ref, ElementRef):
        assert ref.sub is not None
        return [document.get(ref.sub.name)]
    if ref.schema is None and ref.attribute.name == SCHEMAS:
        return document_schemas(ref.attribute.canonical_values, document)
    container = ref.container(document) or {}
    found = elements(ref.attribute, container.get(ref.attribute.name))
    if ref.sub is None:
        return found
    return [e.get(ref.sub.name) for e in found if isinstance(e, Mapping)]


# --- Rendering -----------------------------------------------------------------------


def unparse(node: FilterNode) -> str:
    """Canonical filter text for a node; parsing it again gives an equal node."""
    if isinstance(node, And | Or):
        word = "and" if isinstance(node, And) else "or"
        return f"{_operand(node.left)} {word} {_operand(node.right)}"
    return _operand(node)


def _operand(node: FilterNode) -> str:
    """``node`` as one operand: nested ``and``/``or`` get parentheses."""
    match node:
        case And() | Or():
            return f"({unparse(node)})"
        case Not(inner):
            return f"not ({unparse(inner)})"
        case Present(ref):
            return f"{_name(ref)} pr"
        case Compare(ref, op, value):
            return f"{_name(ref)} {op} {_literal(value)}"
        case ValuePath(ref, inner):
            return f"{ref.dotted}[{unparse(inner)}]"
    raise TypeError(f"not a filter node: {node!r}")


def _name(ref: AttrRef) -> str:
    if isinstance(ref, ElementRef) and ref.sub is not None:
        return ref.sub.name
    return ref.dotted


def _literal(value: Any) -> str:
    if isinstance(value, datetime):
        value = value.isoformat().replace("+00:00", "Z")
    return json.dumps(value, ensure_ascii=False)
