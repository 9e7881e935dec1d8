"""PATCH (RFC 7644 §3.5.2) as pure functions over a canonical resource document.

``parse_operations`` checks the PatchOp envelope; ``apply_patch`` applies the operations
in order to a copy of the document and returns a ``PatchResult``. The first failing
operation raises, so the caller writes nothing. Group membership never enters the
document: operations on a Group's ``members`` become ``MemberChanges`` for the store.

Choices where the RFC is silent or identity providers read it differently:

- An unknown attribute in ``path``, or as a key of a path-less value, is invalidPath; an
  unknown sub-attribute inside a value object is invalidValue. Nothing is dropped
  silently except ``id``, ``meta`` and ``schemas`` keys of a path-less value (Okta sends
  the read-only id when renaming a group) and read-only sub-attributes inside a value
  object (Okta maps ``manager.displayName``; RFC 7644 §3.5.1 ignores read-only values
  on PUT the same way). Both are recorded in ``PatchResult.normalisations``.
- A path naming a read-only attribute or sub-attribute is a mutability error; so is
  changing an immutable attribute that has a value, or removing a required one.
- ``add`` and ``replace`` of a complex value (singular, or the elements a filter selects)
  merge sub-attributes: those not given stay (RFC 7644 §3.5.2.3). A bare scalar given for
  a complex attribute with a ``value`` sub-attribute (Entra's ``manager``) replaces it.
- ``add``/``replace`` through a filter that matches nothing create the element when the
  filter is ``sub eq literal`` clauses joined by ``and`` (Entra expects this); otherwise
  noTarget, as RFC 7644 §3.5.2.3 says. ``remove`` through such a filter is a no-op.
- ``remove`` with a ``value`` on a multi-valued attribute removes only the listed
  elements (Entra removes members this way) instead of the whole attribute.
- null, ``""`` and ``[]`` mean unassigned (RFC 7643 §2.5): given to ``add`` or
  ``replace`` they remove the attribute (``add`` of nothing to a list changes nothing).
- Group ``members``: ``add``/``replace``/``remove`` of the whole attribute, and ``remove``
  through ``value eq "id"`` clauses joined by ``or``; any other members filter or a
  members sub-attribute path is invalidPath. ``MemberChanges`` folds the operations in
  order: once a ``replace`` happened only ``replace`` is set.
- ``changed`` covers the document and the password only; whether membership changed is
  for the store to say, since only it knows the current members.
- Normalisations of the envelope (missing ``schemas``, ``operations`` spelled in another
  case) ride on the first operation's ``notes``. The names: schemas-missing,
  operations-key-case, op-case, empty-path, boolean-string, bare-value-wrapped,
  single-object-wrapped, single-item-list-unwrapped, value-object-unwrapped,
  blank-clears, ignored-read-only-key, ignored-read-only-sub, filter-target-created,
  remove-by-value.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from scimserver.errors import InvalidPath, InvalidSyntax, InvalidValue, Mutability, NoTarget
from scimserver.schema.datatypes import is_unassigned
from scimserver.schema.model import Attribute, AttrRef, ResourceType
from scimserver.scim.filter import matches
from scimserver.scim.keys import lookup
from scimserver.scim.paths import Equalities, PatchPath, equalities, parse_path

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OPS = ("add", "replace", "remove")
_IGNORED_KEYS = frozenset({"id", "meta", "schemas"})

Element = dict[str, Any]
Changes = list[tuple[Attribute, Any]]


class _Missing(Enum):
    VALUE = "missing"


MISSING = _Missing.VALUE
"""The ``value`` of an operation that carried none."""


@dataclass(frozen=True)
class PatchOperation:
    """One PATCH operation; ``value`` is MISSING when the client sent none."""

    op: str
    path: str | None = None
    value: Any = MISSING
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise InvalidSyntax(f"Unknown PATCH op {self.op!r}: use add, replace or remove.")
        if self.op != "remove" and self.value is MISSING:
            raise InvalidValue(f"A PATCH {self.op} operation needs a value.")


@dataclass(frozen=True)
class MemberChanges:
    """Membership changes for the store.

    ``remove_all`` applies before ``add``; ``add`` and ``remove`` never share an id. When
    ``replace`` is not None it is the whole new membership and the other fields are empty.
    """

    add: tuple[dict[str, Any], ...] = ()
    remove: frozenset[str] = frozenset()
    remove_all: bool = False
    replace: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True)
class PatchResult:
    """The new document (never the input object) and what goes beside it."""

    document: dict[str, Any]
    members: MemberChanges = field(default_factory=MemberChanges)
    password: str | None = None
    changed: bool = False
    normalisations: tuple[str, ...] = ()


def only_members(operations: Sequence[PatchOperation]) -> bool:
    """Whether every operation targets ``members`` by path: the stored document stays as is."""
    heads = (re.split(r"[.\[]", o.path or "", maxsplit=1)[0] for o in operations)
    return all(head.strip().lower() == "members" for head in heads)


def parse_operations(body: Any) -> list[PatchOperation]:
    """Validate the PatchOp envelope (RFC 7644 §3.5.2) and return its operations."""
    if not isinstance(body, Mapping):
        raise InvalidSyntax("A PATCH body must be a JSON object.")
    notes = _schemas_notes(body)
    key, raw = lookup(body, "Operations")
    if key is None:
        raise InvalidSyntax('A PATCH body needs an "Operations" list.')
    if key != "Operations":
        notes.append("operations-key-case")
    if not isinstance(raw, list) or not raw:
        raise InvalidSyntax('"Operations" must be a non-empty list.')
    operations = [_operation(item, index) for index, item in enumerate(raw)]
    operations[0] = replace(operations[0], notes=(*notes, *operations[0].notes))
    return operations


def _schemas_notes(body: Mapping[str, Any]) -> list[str]:
    key, schemas = lookup(body, "schemas")
    if key is None:
        return ["schemas-missing"]
    if not isinstance(schemas, list) or PATCH_OP.lower() not in {str(s).lower() for s in schemas}:
        raise InvalidSyntax(f'A PATCH body\'s "schemas" must list {PATCH_OP}.')
    return []


def _operation(item: Any, index: int) -> PatchOperation:
    if not isinstance(item, Mapping):
        raise InvalidSyntax(f"Operation {index} is not a JSON object.")
    _, op = lookup(item, "op")
    if not isinstance(op, str) or op.lower() not in OPS:
        raise InvalidSyntax(f"Operation {index}: op must be add, replace or remove, not {op!r}.")
    notes = [] if op in OPS else ["op-case"]
    path = _operation_path(item, index, notes)
    key, value = lookup(item, "value")
    return PatchOperation(op.lower(), path, MISSING if key is None else value, tuple(notes))


def _operation_path(item: Mapping[str, Any], index: int, notes: list[str]) -> str | None:
    _, path = lookup(item, "path")
    if path is None:
        return None
    if not isinstance(path, str):
        raise InvalidPath(f"Operation {index}: path must be a string.")
    if not path.strip():
        notes.append("empty-path")
        return None
    return path.strip()


@dataclass
class _Members:
    """Membership operations folded in order."""

    added: dict[str, Element] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    cleared: bool = False
    replacement: dict[str, Element] | None = None

    def add(self, members: Iterable[Element]) -> None:
        target = self.added if self.replacement is None else self.replacement
        for member in members:
            target[member["value"]] = member
            self.removed.discard(member["value"])

    def remove(self, ids: Iterable[str]) -> None:
        target = self.added if self.replacement is None else self.replacement
        for member_id in ids:
            target.pop(member_id, None)
            if self.replacement is None and not self.cleared:
                self.removed.add(member_id)

    def remove_all(self) -> None:
        self.added.clear()
        self.removed.clear()
        self.replacement = None
        self.cleared = True

    def replace(self, members: Iterable[Element]) -> None:
        self.remove_all()
        self.cleared = False
        self.replacement = {m["value"]: m for m in members}

    def changes(self) -> MemberChanges:
        replacement = self.replacement
        return MemberChanges(
            add=tuple(self.added.values()),
            remove=frozenset(self.removed),
            remove_all=self.cleared,
            replace=None if replacement is None else tuple(replacement.values()),
        )


@dataclass
class _Run:
    """The state of one apply_patch call."""

    resource_type: ResourceType
    doc: dict[str, Any]
    members: _Members = field(default_factory=_Members)
    password: str | None = None
    notes: list[str] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)

    def note(self, name: str) -> None:
        if name not in self.notes:
            self.notes.append(name)

    def container(self, ref: AttrRef, *, create: bool) -> dict[str, Any]:
        """The dict holding ``ref``'s attribute; an absent extension object is made on demand."""
        if not ref.is_extension or ref.schema is None:
            return self.doc
        found = self.doc.get(ref.schema.id)
        if isinstance(found, dict):
            self.touched.add(ref.schema.id)
            return found
        if not create:
            return {}
        self.touched.add(ref.schema.id)
        created: dict[str, Any] = {}
        self.doc[ref.schema.id] = created
        return created


def apply_patch(
    resource_type: ResourceType,
    document: Mapping[str, Any],
    operations: Sequence[PatchOperation],
) -> PatchResult:
    """Apply the operations in order to a copy of ``document`` (RFC 7644 §3.5.2)."""
    run = _Run(resource_type, copy.deepcopy(dict(document)))
    for operation in operations:
        for note in operation.notes:
            run.note(note)
        _apply(run, operation)
    _tidy_extensions(run)
    changed = run.doc != dict(document) or run.password is not None
    return PatchResult(run.doc, run.members.changes(), run.password, changed, tuple(run.notes))


def _apply(run: _Run, operation: PatchOperation) -> None:
    if operation.path is not None:
        path = parse_path(operation.path, run.resource_type)
        _apply_path(run, operation.op, path, operation.value)
    elif operation.op == "remove":
        raise NoTarget("A remove operation needs a path (RFC 7644 §3.5.2.2).")
    else:
        _apply_object(run, operation.op, operation.value, prefix="")


def _apply_object(run: _Run, op: str, value: Any, *, prefix: str) -> None:
    """A path-less value, or a schema's object: each key is applied as a path."""
    if not isinstance(value, Mapping):
        raise InvalidValue(f"A {op} without a path needs an object of attributes as its value.")
    for key, item in value.items():
        if str(key).lower() in _IGNORED_KEYS:
            run.note("ignored-read-only-key")
            continue
        _apply_path(run, op, parse_path(f"{prefix}{key}", run.resource_type), item)


def _apply_path(run: _Run, op: str, path: PatchPath, value: Any) -> None:
    ref = path.ref
    if ref is None:
        _apply_schema(run, op, path, value)
    elif _is_members(run.resource_type, ref):
        _apply_members(run, op, path, ref, value)
    elif _is_password(ref):
        _apply_password(run, op, ref.attribute, value)
    else:
        _check_writable(ref, path.text)
        _apply_attribute(run, op, path, ref, value)


def _apply_attribute(run: _Run, op: str, path: PatchPath, ref: AttrRef, value: Any) -> None:
    attribute = ref.attribute
    if path.filter is not None or (attribute.multi_valued and ref.sub is not None):
        _apply_elements(run, op, path, ref, value)
    elif attribute.multi_valued:
        _apply_list(run, op, ref, value)
    elif attribute.is_complex:
        _apply_complex(run, op, ref, value)
    else:
        _apply_simple(run, op, ref, value)


def _apply_schema(run: _Run, op: str, path: PatchPath, value: Any) -> None:
    """A path that is a schema URN: its value is that schema's object."""
    schema = path.schema
    assert schema is not None
    if op != "remove":
        _apply_object(run, op, value, prefix=f"{schema.id}:")
        return
    if run.resource_type.extension(schema.id) is None:
        raise InvalidPath(f"Path {path.text!r}: only an extension schema can be removed whole.")
    existing = run.doc.get(schema.id)
    for key in list(existing) if isinstance(existing, dict) else []:
        _apply_path(run, op, parse_path(f"{schema.id}:{key}", run.resource_type), MISSING)


def _check_writable(ref: AttrRef, label: str) -> None:
    for attribute in (ref.attribute, ref.sub):
        if attribute is not None and attribute.read_only:
            raise Mutability(f"{label}: {attribute.name} is read-only.")


def _cleared(run: _Run, value: Any) -> bool:
    """Whether an add/replace value asks to clear the attribute."""
    if value is MISSING or not is_unassigned(value, blank_string=True):
        return False
    run.note("blank-clears")
    return True


def _check_change(attribute: Attribute, label: str, old: Any, new: Any) -> None:
    if old == new:
        return
    if new is None and attribute.required:
        raise Mutability(f"{label} is required and cannot be removed.")
    if attribute.mutability == "immutable" and not is_unassigned(old, blank_string=True):
        raise Mutability(f"{label} is immutable and already has a value.")


def _assign(container: dict[str, Any], attribute: Attribute, label: str, new: Any) -> None:
    _check_change(attribute, label, container.get(attribute.name), new)
    container[attribute.name] = new


def _unset(container: dict[str, Any], attribute: Attribute, label: str) -> None:
    if attribute.name in container:
        _check_change(attribute, label, container[attribute.name], None)
        del container[attribute.name]


def _coerce(run: _Run, attribute: Attribute, value: Any) -> Any:
    """Booleans sent as strings (Entra's ``"False"``) become booleans; the rest stays."""
    if (
        attribute.type == "boolean"
        and isinstance(value, str)
        and value.lower() in {"true", "false"}
    ):
        run.note("boolean-string")
        return value.lower() == "true"
    return value


def _unwrap_single(run: _Run, attribute: Attribute, value: Any) -> Any:
    """A one-item list given for a single value becomes that item."""
    if not isinstance(value, list):
        return value
    if len(value) != 1:
        raise InvalidValue(f"{attribute.name} takes one value, not a list of {len(value)}.")
    run.note("single-item-list-unwrapped")
    return value[0]


def _scalar(run: _Run, attribute: Attribute, value: Any) -> Any:
    """A simple value; ``{"value": x}`` (Entra's older dialect) becomes ``x``."""
    if isinstance(value, Mapping):
        keys = [str(k).lower() for k in value]
        if keys != ["value"]:
            raise InvalidValue(f"{attribute.name} takes a simple value, not an object.")
        run.note("value-object-unwrapped")
        value = next(iter(value.values()))
    return _coerce(run, attribute, value)


def _wrap_bare(run: _Run, attribute: Attribute, value: Any) -> Mapping[str, Any]:
    """A scalar given for a complex attribute with a ``value`` sub-attribute: ``{"value": x}``."""
    if attribute.sub("value") is None or isinstance(value, list | Mapping):
        raise InvalidValue(f"{attribute.name} takes an object of sub-attributes.")
    run.note("bare-value-wrapped")
    return {"value": value}


def _complex_value(run: _Run, attribute: Attribute, value: Any) -> Changes:
    """A complex value's sub-attributes, resolved; read-only ones are left out."""
    if not isinstance(value, Mapping):
        value = _wrap_bare(run, attribute, value)
    changes: Changes = []
    for key, item in value.items():
        sub = attribute.sub(str(key))
        if sub is None:
            raise InvalidValue(f"{attribute.name} has no sub-attribute {key!r}.")
        if sub.read_only:
            run.note("ignored-read-only-sub")
            continue
        changes.append((sub, item))
    return changes


def _merge(run: _Run, label: str, current: Any, changes: Changes) -> Element:
    """``current`` with the sub-attribute changes applied; MISSING or blank removes one."""
    merged = dict(current) if isinstance(current, Mapping) else {}
    for sub, item in changes:
        sub_label = f"{label}.{sub.name}"
        if item is MISSING or _cleared(run, item):
            _unset(merged, sub, sub_label)
        else:
            _assign(merged, sub, sub_label, _scalar(run, sub, _unwrap_single(run, sub, item)))
    return merged


def _element(run: _Run, attribute: Attribute, item: Any) -> Any:
    """One element of a multi-valued attribute, normalised."""
    if not attribute.is_complex:
        return _scalar(run, attribute, item)
    changes = [
        (s, v)
        for s, v in _complex_value(run, attribute, item)
        if not is_unassigned(v, blank_string=True)
    ]
    return _merge(run, attribute.name, None, changes)


def _elements(run: _Run, attribute: Attribute, value: Any) -> list[Any]:
    """The elements of a multi-valued value; a single element is wrapped in a list."""
    if not isinstance(value, list):
        run.note("single-object-wrapped")
        value = [value]
    elements = [_element(run, attribute, item) for item in value]
    return [e for e in elements if not is_unassigned(e, blank_string=True, empty_object=True)]


def _settle_primary(elements: list[Any], winner: int | None) -> list[Any]:
    """At most one ``primary``: when ``winner`` became primary, the others stop being so."""
    if winner is None:
        return elements
    return [
        {**e, "primary": False}
        if i != winner and isinstance(e, Mapping) and e.get("primary") is True
        else e
        for i, e in enumerate(elements)
    ]


def _last_primary(elements: Sequence[Any]) -> int | None:
    chosen = [i for i, e in enumerate(elements) if _is_primary(e)]
    return chosen[-1] if chosen else None


def _is_primary(element: Any) -> bool:
    return isinstance(element, Mapping) and element.get("primary") is True


def _store_list(
    container: dict[str, Any], attribute: Attribute, label: str, items: list[Any]
) -> None:
    if items:
        _assign(container, attribute, label, items)
    else:
        _unset(container, attribute, label)


def _apply_simple(run: _Run, op: str, ref: AttrRef, value: Any) -> None:
    container = run.container(ref, create=op != "remove")
    if op == "remove" or _cleared(run, value):
        _unset(container, ref.attribute, ref.dotted)
        return
    new = _scalar(run, ref.attribute, _unwrap_single(run, ref.attribute, value))
    _assign(container, ref.attribute, ref.dotted, new)


def _apply_complex(run: _Run, op: str, ref: AttrRef, value: Any) -> None:
    """A singular complex attribute (``name``, ``manager``) or one of its sub-attributes."""
    attribute = ref.attribute
    container = run.container(ref, create=op != "remove")
    if ref.sub is not None:
        changes: Changes = [(ref.sub, MISSING if op == "remove" else value)]
    elif op == "remove" or _cleared(run, value):
        _unset(container, attribute, ref.dotted)
        return
    else:
        value = _unwrap_single(run, attribute, value)
        changes = _complex_value(run, attribute, value)
    bare = ref.sub is None and not isinstance(value, Mapping)
    current = None if bare else container.get(attribute.name)
    merged = _merge(run, attribute.name, current, changes)
    if merged:
        _assign(container, attribute, ref.dotted, merged)
    else:
        _unset(container, attribute, ref.dotted)


def _apply_list(run: _Run, op: str, ref: AttrRef, value: Any) -> None:
    """A whole multi-valued attribute: add appends, replace replaces, remove removes."""
    attribute, label = ref.attribute, ref.dotted
    container = run.container(ref, create=op != "remove")
    if op == "remove" and value is not MISSING and not is_unassigned(value, blank_string=True):
        _remove_listed(run, container, attribute, label, value)
    elif op == "add" and is_unassigned(value, blank_string=True):
        return
    elif op == "remove" or _cleared(run, value):
        _unset(container, attribute, label)
    elif op == "add":
        _store_list(container, attribute, label, _append(run, container, attribute, value))
    else:
        new = _elements(run, attribute, value)
        _store_list(container, attribute, label, _settle_primary(new, _last_primary(new)))


def _append(run: _Run, container: Mapping[str, Any], attribute: Attribute, value: Any) -> list[Any]:
    """The current elements plus the new ones not already present (RFC 7644 §3.5.2.1)."""
    elements = list(container.get(attribute.name) or [])
    winner: int | None = None
    for element in _elements(run, attribute, value):
        if element not in elements:
            elements.append(element)
        if _is_primary(element):
            winner = elements.index(element)
    return _settle_primary(elements, winner)


def _remove_listed(
    run: _Run, container: dict[str, Any], attribute: Attribute, label: str, value: Any
) -> None:
    """Entra's ``remove`` with a value list: drop the elements that list describes."""
    run.note("remove-by-value")
    listed = _elements(run, attribute, value)
    current = container.get(attribute.name) or []
    kept = [e for e in current if not any(_describes(item, e) for item in listed)]
    _store_list(container, attribute, label, kept)


def _describes(item: Any, element: Any) -> bool:
    """Whether every sub-attribute given in ``item`` equals ``element``'s."""
    if isinstance(item, Mapping) and isinstance(element, Mapping):
        return all(element.get(k) == v for k, v in item.items())
    return bool(item == element)


def _apply_elements(run: _Run, op: str, path: PatchPath, ref: AttrRef, value: Any) -> None:
    """Elements of a multi-valued attribute chosen by a filter (all of them without one)."""
    container = run.container(ref, create=op != "remove")
    current = list(container.get(ref.attribute.name) or [])
    hits = [i for i, e in enumerate(current) if _selected(path, e)]
    if op == "remove" or (ref.sub is None and _cleared(run, value)):
        kept = _remove_from(run, ref, current, set(hits))
    else:
        kept = _update_elements(run, op, path, ref, value, current, hits)
    _store_list(container, ref.attribute, path.text, kept)


def _selected(path: PatchPath, element: Any) -> bool:
    if path.filter is None:
        return True
    return isinstance(element, Mapping) and matches(path.filter, element)


def _remove_from(run: _Run, ref: AttrRef, current: list[Any], hits: set[int]) -> list[Any]:
    """The elements left once the hits (or the hits' sub-attribute) are removed."""
    if ref.sub is None:
        return [e for i, e in enumerate(current) if i not in hits]
    changes: Changes = [(ref.sub, MISSING)]
    label = ref.attribute.name
    merged = [_merge(run, label, e, changes) if i in hits else e for i, e in enumerate(current)]
    return [e for e in merged if e != {}]


def _update_elements(
    run: _Run,
    op: str,
    path: PatchPath,
    ref: AttrRef,
    value: Any,
    current: list[Any],
    hits: list[int],
) -> list[Any]:
    """Merge the value into the hits; with none, create the element the filter describes."""
    changes = _element_changes(run, ref, value)
    if not hits and all(is_unassigned(v, blank_string=True) for _, v in changes):
        return current
    if not hits:
        changes = [*_new_element(run, op, path, ref.attribute), *changes]
        current.append({})
        hits = [len(current) - 1]
    winner: int | None = None
    for i in hits:
        before = current[i]
        current[i] = _merge(run, ref.attribute.name, before, changes)
        if _is_primary(current[i]) and not _is_primary(before):
            winner = i
    return [e for e in _settle_primary(current, winner) if e != {}]


def _element_changes(run: _Run, ref: AttrRef, value: Any) -> Changes:
    if ref.sub is not None:
        return [(ref.sub, value)]
    return _complex_value(run, ref.attribute, _unwrap_single(run, ref.attribute, value))


def _new_element(run: _Run, op: str, path: PatchPath, attribute: Attribute) -> Changes:
    """The sub-attributes of the element a filter describes (Entra), else noTarget."""
    if path.filter_text is None:
        return []
    found = equalities(path.filter_text, attribute)
    if found is None or not _describes_one(found):
        raise NoTarget(f"Path {path.text!r} matched no element to {op}.")
    run.note("filter-target-created")
    return [(sub, v) for name, v in found.clauses if (sub := attribute.sub(name)) is not None]


def _describes_one(found: Equalities) -> bool:
    """``a eq x and b eq y``, each name once: exactly one element fits it."""
    names = [name for name, _ in found.clauses]
    return (len(names) == 1 or found.connector == "and") and len(set(names)) == len(names)


def _is_members(resource_type: ResourceType, ref: AttrRef) -> bool:
    return (
        resource_type.has_members
        and ref.schema is resource_type.schema
        and ref.attribute.name == "members"
    )


def _apply_members(run: _Run, op: str, path: PatchPath, ref: AttrRef, value: Any) -> None:
    """Group membership: reported as MemberChanges, never written to the document."""
    if ref.sub is not None:
        raise InvalidPath(
            f"Path {path.text!r}: members are added or removed whole; "
            "their sub-attributes cannot be patched."
        )
    if path.filter is not None:
        run.members.remove(_filtered_member_ids(op, path, ref.attribute))
    elif op == "remove" and (value is MISSING or is_unassigned(value, blank_string=True)):
        run.members.remove_all()
    elif op == "remove":
        run.note("remove-by-value")
        run.members.remove(m["value"] for m in _member_objects(run, ref.attribute, value))
    elif op == "add":
        run.members.add(_member_objects(run, ref.attribute, value))
    else:
        run.members.replace(_member_objects(run, ref.attribute, value))


def _filtered_member_ids(op: str, path: PatchPath, attribute: Attribute) -> frozenset[str]:
    """The ids in ``members[value eq "a" or value eq "b"]``, which only ``remove`` takes."""
    found = equalities(path.filter_text or "", attribute)
    if (
        op == "remove"
        and found is not None
        and (len(found.clauses) == 1 or found.connector == "or")
    ):
        ids = [v for name, v in found.clauses if name == "value" and isinstance(v, str)]
        if len(ids) == len(found.clauses):
            return frozenset(ids)
    raise InvalidPath(
        f"Path {path.text!r}: the only members filter supported is "
        '"value eq" clauses joined by "or", in a remove operation.'
    )


def _member_objects(run: _Run, attribute: Attribute, value: Any) -> list[Element]:
    if is_unassigned(value, blank_string=True):
        return []
    if not isinstance(value, list):
        run.note("single-object-wrapped")
        value = [value]
    return [_member_object(run, attribute, item) for item in value]


def _member_object(run: _Run, attribute: Attribute, item: Any) -> Element:
    """One member: canonical keys (``value``, ``type``, ``display``, ``$ref``), blanks dropped."""
    if not isinstance(item, Mapping):
        item = _wrap_bare(run, attribute, item)
    member: Element = {}
    for key, sub_value in item.items():
        sub = attribute.sub(str(key))
        if sub is None:
            raise InvalidValue(f"A member has no attribute {key!r}.")
        if not is_unassigned(sub_value, blank_string=True):
            member[sub.name] = sub_value
    if not isinstance(member.get("value"), str):
        raise InvalidValue("Each member needs a value: the member's id, as a string.")
    return member


def _is_password(ref: AttrRef) -> bool:
    return ref.attribute.name == "password" and ref.attribute.mutability == "writeOnly"


def _apply_password(run: _Run, op: str, attribute: Attribute, value: Any) -> None:
    """A new password goes to PatchResult.password, never into the document."""
    if op == "remove":
        raise Mutability("password can be replaced but not removed.")
    password = _scalar(run, attribute, _unwrap_single(run, attribute, value))
    if not isinstance(password, str) or not password:
        raise InvalidValue("password must be a non-empty string.")
    run.password = password


def _tidy_extensions(run: _Run) -> None:
    """Extension objects emptied are dropped; ``schemas`` lists exactly those present."""
    if not run.touched:
        return
    listed = list(run.doc.get("schemas") or [run.resource_type.schema.id])
    for urn in sorted(run.touched):
        present = bool(run.doc.get(urn))
        is_listed = any(str(s).lower() == urn.lower() for s in listed)
        if present and not is_listed:
            listed.append(urn)
        elif not present:
            run.doc.pop(urn, None)
            listed = [s for s in listed if str(s).lower() != urn.lower()]
    run.doc["schemas"] = listed
