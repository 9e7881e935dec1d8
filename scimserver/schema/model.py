"""Typed SCIM schema objects (RFC 7643 §7) and attribute-path resolution."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

STRING_TYPES = frozenset({"string", "reference", "binary"})
_NAMING = ("userName", "displayName")
_MEMBERSHIP = frozenset({"members", "groups"})


@dataclass(frozen=True)
class Attribute:
    """One attribute definition, with its characteristics."""

    name: str
    type: str
    multi_valued: bool = False
    description: str = ""
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    returned: str = "default"
    uniqueness: str = "none"
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: tuple[Attribute, ...] = ()
    _subs: Mapping[str, Attribute] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attribute:
        subs = tuple(cls.from_json(s) for s in data.get("subAttributes", ()))
        return cls(
            name=data["name"],
            type=data.get("type", "string"),
            multi_valued=bool(data.get("multiValued", False)),
            description=data.get("description", ""),
            required=bool(data.get("required", False)),
            case_exact=bool(data.get("caseExact", False)),
            mutability=data.get("mutability", "readWrite"),
            returned=data.get("returned", "default"),
            uniqueness=data.get("uniqueness", "none"),
            canonical_values=tuple(data.get("canonicalValues", ())),
            reference_types=tuple(data.get("referenceTypes", ())),
            sub_attributes=subs,
            _subs={s.name.lower(): s for s in subs},
        )

    def sub(self, name: str) -> Attribute | None:
        """The sub-attribute called ``name``, matched case-insensitively."""
        return self._subs.get(name.lower())

    @property
    def is_complex(self) -> bool:
        return self.type == "complex"

    @property
    def is_string(self) -> bool:
        return self.type in STRING_TYPES

    @property
    def read_only(self) -> bool:
        return self.mutability == "readOnly"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        }
        if self.is_string or self.is_complex:
            out["caseExact"] = self.case_exact
        if self.canonical_values:
            out["canonicalValues"] = list(self.canonical_values)
        if self.reference_types:
            out["referenceTypes"] = list(self.reference_types)
        if self.sub_attributes:
            out["subAttributes"] = [s.to_json() for s in self.sub_attributes]
        return out


def _attribute_map(attributes: tuple[Attribute, ...]) -> dict[str, Attribute]:
    return {a.name.lower(): a for a in attributes}


@dataclass(frozen=True)
class View:
    """What a client sees of an object: the names (as defined) it shows, and those of
    them whose value it trims to a view of their own (a complex attribute with a
    sub-attribute ``returned: never``, an extension); the others are shown whole."""

    names: frozenset[str]
    trimmed: Mapping[str, View]


def _view(attributes: tuple[Attribute, ...], hidden: frozenset[str]) -> View:
    """The attributes not ``returned`` as in ``hidden`` and, of complex ones, every
    sub-attribute not ``returned: never``."""
    shown = [a for a in attributes if a.returned not in hidden]
    return View(
        frozenset(a.name for a in shown),
        {
            a.name: _view(a.sub_attributes, _NEVER)
            for a in shown
            if any(s.returned in _NEVER for s in a.sub_attributes)
        },
    )


_NEVER = frozenset({"never"})
_NOT_BY_DEFAULT = frozenset({"never", "request"})


@dataclass(frozen=True)
class Schema:
    """A schema: a URN naming a set of attributes."""

    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]
    _by_name: Mapping[str, Attribute] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Schema:
        attributes = tuple(Attribute.from_json(a) for a in data.get("attributes", ()))
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            description=data.get("description", ""),
            attributes=attributes,
            _by_name=_attribute_map(attributes),
        )

    def attribute(self, name: str) -> Attribute | None:
        """The attribute called ``name``, matched case-insensitively."""
        return self._by_name.get(name.lower())

    @property
    def by_name(self) -> Mapping[str, Attribute]:
        """The attributes by lowercase name."""
        return self._by_name

    def to_json(self, location: str) -> dict[str, Any]:
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.to_json() for a in self.attributes],
            "meta": {"resourceType": "Schema", "location": location},
        }


def _common_attributes() -> tuple[Attribute, ...]:
    """RFC 7643 §3.1: attributes every resource has, outside any schema."""
    string = {"type": "string", "caseExact": True, "mutability": "readOnly"}
    meta_subs = [
        {"name": "resourceType", **string},
        {"name": "created", "type": "dateTime", "mutability": "readOnly"},
        {"name": "lastModified", "type": "dateTime", "mutability": "readOnly"},
        {"name": "location", "type": "reference", "caseExact": True, "mutability": "readOnly"},
        {"name": "version", **string},
    ]
    specs: list[dict[str, Any]] = [
        {"name": "id", **string, "returned": "always", "uniqueness": "server"},
        {"name": "externalId", "type": "string", "caseExact": True},
        {"name": "meta", "type": "complex", "mutability": "readOnly", "subAttributes": meta_subs},
    ]
    return tuple(Attribute.from_json(s) for s in specs)


COMMON_ATTRIBUTES = _common_attributes()
COMMON = _attribute_map(COMMON_ATTRIBUTES)


@dataclass(frozen=True)
class AttrRef:
    """A resolved attribute path: ``[urn:]attr[.sub]`` within one resource type.

    ``schema`` is None for the common attributes (id, externalId, meta).
    """

    schema: Schema | None
    attribute: Attribute
    sub: Attribute | None = None

    @property
    def leaf(self) -> Attribute:
        return self.sub or self.attribute

    @property
    def is_extension(self) -> bool:
        return self.schema is not None and self._extension

    _extension: bool = False

    @property
    def key(self) -> str:
        """Canonical lowercase path used for indexing: ``emails.value``, ``urn:…:manager.value``."""
        base = self.attribute.name.lower()
        if self.sub is not None:
            base = f"{base}.{self.sub.name.lower()}"
        if self.is_extension:
            assert self.schema is not None
            return f"{self.schema.id.lower()}:{base}"
        return base

    @property
    def dotted(self) -> str:
        """The path as written canonically: ``name.givenName`` or ``urn:…:manager.value``."""
        base = self.attribute.name if self.sub is None else f"{self.attribute.name}.{self.sub.name}"
        if self.is_extension:
            assert self.schema is not None
            return f"{self.schema.id}:{base}"
        return base

    def container(self, document: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The mapping that holds this attribute in a canonical document."""
        if not self.is_extension:
            return document
        assert self.schema is not None
        ext = document.get(self.schema.id)
        return ext if isinstance(ext, Mapping) else None


@dataclass(frozen=True)
class Extension:
    schema: Schema
    required: bool


@dataclass(frozen=True)
class ResourceType:
    """A resource type: its endpoint, core schema and schema extensions."""

    id: str
    name: str
    endpoint: str
    description: str
    schema: Schema
    extensions: tuple[Extension, ...] = ()

    @property
    def schemas(self) -> tuple[Schema, ...]:
        return (self.schema, *(e.schema for e in self.extensions))

    @cached_property
    def has_members(self) -> bool:
        """Whether its core schema has ``members`` (multi-valued, each with a ``value``):
        then its members live in the membership table, never in its document, whatever
        the type is called."""
        return self.in_memberships(self.schema.attribute("members"))

    @cached_property
    def has_groups(self) -> bool:
        """Whether its core schema has ``groups``: the groups it is a member of, derived
        from the membership table."""
        return self.in_memberships(self.schema.attribute("groups"))

    def in_memberships(self, attribute: Attribute | None, extension: bool = False) -> bool:
        """Whether ``attribute`` (of the core schema unless ``extension``) is read from the
        membership table, never stored in the document: ``members`` and ``groups``,
        multi-valued, each element with a ``value``."""
        return (
            attribute is not None
            and not extension
            and attribute.name in _MEMBERSHIP
            and attribute.multi_valued
            and attribute.sub("value") is not None
            and self.schema.attribute(attribute.name) is attribute
        )

    @cached_property
    def naming(self) -> str | None:
        """The attribute that names a resource of this type to a person: ``userName``
        where the core schema has one, else ``displayName``, else none."""
        for name in _NAMING:
            if self.schema.attribute(name) is not None:
                return name
        return None

    def name_of(self, document: Mapping[str, Any]) -> str | None:
        """The value of :attr:`naming` in ``document``, if it is a string."""
        value = document.get(self.naming) if self.naming else None
        return value if isinstance(value, str) else None

    def display_of(self, document: Mapping[str, Any]) -> str | None:
        """What a member's ``display`` shows by default: ``displayName``, else the name."""
        display = document.get("displayName")
        return display if isinstance(display, str) and display else self.name_of(document)

    @cached_property
    def top_level(self) -> Mapping[str, Attribute]:
        """The core schema's attributes and the common ones (id, externalId, meta), by
        lowercase name: what a document's top-level keys name."""
        return {**self.schema.by_name, **COMMON}

    @cached_property
    def visible(self) -> View:
        """All a client may see of a document: every attribute but ``returned: never``
        ones, the common attributes and ``schemas`` whole, each extension under its URN."""
        return self._view(_NEVER)

    @cached_property
    def shown_by_default(self) -> View:
        """What a request naming neither ``attributes`` nor ``excludedAttributes`` sees:
        :attr:`visible` less the attributes ``returned: request`` (RFC 7643 §7)."""
        return self._view(_NOT_BY_DEFAULT)

    def _view(self, hidden: frozenset[str]) -> View:
        core = _view(self.schema.attributes, hidden)
        extensions = {e.schema.id: _view(e.schema.attributes, hidden) for e in self.extensions}
        common = ("schemas", *(a.name for a in COMMON_ATTRIBUTES))
        return View(core.names | {*common, *extensions}, {**core.trimmed, **extensions})

    def extension(self, urn: str) -> Schema | None:
        """The extension schema with id ``urn`` (case-insensitive)."""
        lowered = urn.lower()
        return next((e.schema for e in self.extensions if e.schema.id.lower() == lowered), None)

    def split_urn(self, path: str) -> tuple[Schema | None, str]:
        """Split ``urn:…:attr.sub`` into its schema and the rest; (None, path) if unqualified."""
        if not path.lower().startswith("urn:"):
            return None, path
        lowered = path.lower()
        candidates = [
            s
            for s in self.schemas
            if lowered == s.id.lower() or lowered.startswith(s.id.lower() + ":")
        ]
        best = max(candidates, key=lambda s: len(s.id), default=None)
        if best is None:
            return None, path
        return best, path[len(best.id) + 1 :]

    def resolve(self, path: str) -> AttrRef | None:
        """Resolve ``[urn:]attr[.sub]`` case-insensitively; None if unknown."""
        schema, rest = self.split_urn(path)
        if path.lower().startswith("urn:") and schema is None:
            return None
        name, _, sub_name = rest.partition(".")
        if not name:
            return None
        found = self._find(schema, name)
        if found is None:
            return None
        owner, attribute = found
        sub: Attribute | None = None
        if sub_name:
            sub = attribute.sub(sub_name)
            if sub is None or "." in sub_name:
                return None
        return AttrRef(owner, attribute, sub, _extension=owner is not None and owner != self.schema)

    def _find(self, schema: Schema | None, name: str) -> tuple[Schema | None, Attribute] | None:
        if schema is not None:
            attribute = schema.attribute(name)
            if attribute is None and schema is self.schema and name.lower() in COMMON:
                return None, COMMON[name.lower()]
            return (schema, attribute) if attribute is not None else None
        if name.lower() in COMMON:
            return None, COMMON[name.lower()]
        attribute = self.schema.attribute(name)
        if attribute is not None:
            return self.schema, attribute
        matches = [(e.schema, a) for e in self.extensions if (a := e.schema.attribute(name))]
        return matches[0] if len(matches) == 1 else None

    def to_json(self, location: str) -> dict[str, Any]:
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.id,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema.id,
            "schemaExtensions": [
                {"schema": e.schema.id, "required": e.required} for e in self.extensions
            ],
            "meta": {"resourceType": "ResourceType", "location": location},
        }
