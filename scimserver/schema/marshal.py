"""marshmallow schemas built from SCIM schema objects, one per request phase.

CREATE and REPLACE load client input: readOnly attributes are dropped, required ones
enforced, types checked, names matched case-insensitively and rewritten canonically,
nulls and empty arrays treated as absent. The response phase needs no validation: a
stored document was canonical when it was loaded, so it is dumped by a filter compiled
from the same schema (the attributes a client may see, ``returned: never`` left out),
about ten times cheaper than a marshmallow dump, which dominated list pages. Nothing
here is written per endpoint: it all follows the schema JSON.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from typing import Any, cast

import marshmallow as ma

from scimserver.errors import InvalidSyntax, InvalidValue
from scimserver.schema.datatypes import is_unassigned, parse_datetime
from scimserver.schema.model import Attribute, ResourceType, Schema

MAX_STRING_LENGTH = 65_536
MAX_UNIQUE_STRING_LENGTH = 256
"""Values the server keeps unique are indexed, so they are kept short."""


class Phase(enum.Enum):
    CREATE = "create"
    REPLACE = "replace"


def _clean_string(value: str) -> None:
    if "\x00" in value:
        raise ma.ValidationError("NUL characters are not allowed.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ma.ValidationError("The value is not valid Unicode text.") from exc


class ScimString(ma.fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        _clean_string(text)
        return text


class ScimBoolean(ma.fields.Boolean):
    """A boolean; also the strings "true"/"false" in any case, as Entra ID sends them."""

    truthy = {True, "true", "True", "TRUE"}
    falsy = {False, "false", "False", "FALSE"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if isinstance(value, str):
            value = value.strip().lower()
        if value in (True, "true"):
            return True
        if value in (False, "false"):
            return False
        raise self.make_error("invalid")


class ScimInteger(ma.fields.Integer):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class ScimDecimal(ma.fields.Float):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.make_error("invalid")  # 1e400 parses as inf: no JSON number holds it
        return super()._deserialize(value, attr, data, **kwargs)


class ScimDateTime(ma.fields.String):
    """An xsd:dateTime, kept as the client wrote it once it parses."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if parse_datetime(text) is None:
            raise ma.ValidationError("Not a valid dateTime (xsd:dateTime).")
        return text


class _ScimSchema(ma.Schema):
    """Base of every generated schema: case-insensitive names, nulls as absent."""

    names: dict[str, str] = {}
    multi_valued: frozenset[str] = frozenset()

    class Meta:
        unknown = ma.EXCLUDE

    @ma.pre_load
    def canonicalise(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ma.ValidationError("Expected a JSON object.")
        out: dict[str, Any] = {}
        for key, value in data.items():
            name = self.names.get(str(key).lower())
            # RFC 7643 §2.5: null and [] both mean unassigned (Entra sends "roles": []); an
            # empty string too, as PATCH treats it (IdPs send "" to clear an attribute).
            if name is None or is_unassigned(value, blank_string=True):
                continue
            if name in self.multi_valued and not isinstance(value, list):
                value = [value]
            out[name] = value
        return out


_SCALARS: dict[str, type[ma.fields.Field[Any]]] = {
    "string": ScimString,
    "reference": ScimString,
    "binary": ScimString,
    "boolean": ScimBoolean,
    "integer": ScimInteger,
    "decimal": ScimDecimal,
    "dateTime": ScimDateTime,
}


def _loads(attribute: Attribute) -> bool:
    return attribute.mutability != "readOnly"


def _field(attribute: Attribute, phase: Phase) -> ma.fields.Field[Any]:
    required = attribute.required
    if attribute.is_complex:
        nested = _schema_class(attribute.name, attribute.sub_attributes, phase)
        inner: ma.fields.Field[Any] = ma.fields.Nested(nested)
    else:
        inner = _SCALARS.get(attribute.type, ma.fields.Raw)(validate=_string_checks(attribute))
    if attribute.multi_valued:
        return ma.fields.List(inner, required=required)
    inner.required = required
    return inner


def _string_checks(attribute: Attribute) -> list[Callable[[Any], Any]]:
    if not attribute.is_string:
        return []
    limit = MAX_UNIQUE_STRING_LENGTH if attribute.uniqueness != "none" else MAX_STRING_LENGTH
    checks: list[Callable[[Any], Any]] = [ma.validate.Length(max=limit)]
    if attribute.required:
        checks.append(_not_blank)
    return checks


def _not_blank(value: str) -> None:
    """A required string must say something: "" or spaces would satisfy it only in form."""
    if not value.strip():
        raise ma.ValidationError("A required value cannot be empty.")


def _schema_class(name: str, attributes: tuple[Attribute, ...], phase: Phase) -> type[_ScimSchema]:
    declared = {a.name: _field(a, phase) for a in attributes if _loads(a)}
    made = _ScimSchema.from_dict(declared, name=f"{name}{phase.value.title()}Schema")
    cls = cast(type[_ScimSchema], made)
    cls.names = {a.name.lower(): a.name for a in attributes if a.name in declared}
    cls.multi_valued = frozenset(a.name for a in attributes if a.multi_valued)
    return cls


def _resource_class(resource_type: ResourceType, phase: Phase) -> type[_ScimSchema]:
    core = resource_type.schema
    attributes = tuple(a for a in core.attributes)
    cls = _schema_class(resource_type.id, attributes, phase)
    declared: dict[str, ma.fields.Field[Any]] = dict(cls._declared_fields)
    declared["externalId"] = ScimString(validate=ma.validate.Length(max=MAX_STRING_LENGTH))
    declared["schemas"] = ma.fields.List(ma.fields.Raw())
    for index, extension in enumerate(resource_type.extensions):
        field = _extension_field(extension.schema, extension.required, phase)
        field.data_key = extension.schema.id  # URNs hold dots, which marshmallow reads as paths
        declared[_extension_key(index)] = field
    made = _ScimSchema.from_dict(declared, name=f"{resource_type.id}{phase.value.title()}")
    full = cast(type[_ScimSchema], made)
    full.names = {**cls.names, "externalid": "externalId", "schemas": "schemas"}
    full.names.update({e.schema.id.lower(): e.schema.id for e in resource_type.extensions})
    full.multi_valued = cls.multi_valued | {"schemas"}
    return full


def _extension_key(index: int) -> str:
    return f"extension_{index}"


def _extension_field(schema: Schema, required: bool, phase: Phase) -> ma.fields.Field[Any]:
    nested = _schema_class(schema.name or schema.id, schema.attributes, phase)
    return ma.fields.Nested(nested, required=required)


class Marshaller:
    """Loads client input into canonical documents, for one resource type."""

    def __init__(self, resource_type: ResourceType) -> None:
        self.resource_type = resource_type
        self._schemas = {phase: _resource_class(resource_type, phase)() for phase in Phase}
        self._known = {a.name.lower() for a in resource_type.schema.attributes} | {
            e.schema.id.lower() for e in resource_type.extensions
        }
        self._known |= {"id", "externalid", "meta", "schemas"}
        replace = self._schemas[Phase.REPLACE]
        self._fields = {f.data_key or name: name for name, f in replace.fields.items()}
        """Document key → field name, in the order a load returns them."""

    def load(self, body: Any, phase: Phase) -> dict[str, Any]:
        """Validate ``body`` and return the canonical document (readOnly input dropped)."""
        if not isinstance(body, Mapping):
            raise InvalidSyntax("The request body must be a JSON object.")
        try:
            document: dict[str, Any] = self._schemas[phase].load(body)
        except ma.ValidationError as exc:
            raise InvalidValue(_describe(exc.messages)) from exc
        document = self._named(document)
        document["schemas"] = self.schemas_of(document)
        return document

    def reload(self, stored: Mapping[str, Any], patched: Mapping[str, Any]) -> dict[str, Any]:
        """``patched`` (the ``stored`` document as a PATCH left it) as ``load(patched,
        Phase.REPLACE)`` returns it, validating only the attributes the PATCH changed.

        A stored document was canonical when it was loaded, and loading it again gives it
        back; so the attributes a PATCH left alone are kept as they are, and a PATCH of
        ``active`` no longer validates every other attribute (a tenth of its profile, 3-5%
        of its CPU under scimbench).
        """
        touched = {k for k in {*stored, *patched} if not _same(stored.get(k), patched.get(k))}
        touched.discard("schemas")  # made again below, as load does
        changed = {k: patched[k] for k in touched if k in patched}
        left = tuple(name for key, name in self._fields.items() if key not in touched)
        try:
            loaded = self._schemas[Phase.REPLACE].load(changed, partial=left)
        except ma.ValidationError as exc:
            raise InvalidValue(_describe(exc.messages)) from exc
        merged = {k: v for k, v in stored.items() if k not in touched}
        merged.update(self._named(loaded))
        document = {key: merged[key] for key in self._fields if key in merged}
        document["schemas"] = self.schemas_of(document)
        return document

    def _named(self, loaded: dict[str, Any]) -> dict[str, Any]:
        """A load's result with each extension under its schema URN."""
        for index, extension in enumerate(self.resource_type.extensions):
            if _extension_key(index) in loaded:
                loaded[extension.schema.id] = loaded.pop(_extension_key(index))
        return loaded

    def unknown_keys(self, body: Any) -> list[str]:
        """Top-level keys of ``body`` that name no attribute: ``load`` drops them."""
        if not isinstance(body, Mapping):
            return []
        return sorted(str(k) for k in body if str(k).lower() not in self._known)

    def schemas_of(self, document: Mapping[str, Any]) -> list[str]:
        """The ``schemas`` a document carries: the core schema and each extension present."""
        present = [e.schema.id for e in self.resource_type.extensions if document.get(e.schema.id)]
        return [self.resource_type.schema.id, *present]


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same JSON types throughout: ``True`` is not ``1`` here."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _describe(messages: Any, prefix: str = "") -> str:
    """Flatten marshmallow's nested error messages into one readable line."""
    if isinstance(messages, Mapping):
        parts = [
            _describe(
                value,
                f"{prefix}.{key}"
                if prefix and not isinstance(key, int)
                else f"{prefix}[{key}]"
                if isinstance(key, int)
                else str(key),
            )
            for key, value in messages.items()
        ]
        return "; ".join(parts)
    if isinstance(messages, list):
        return (
            f"{prefix}: {' '.join(str(m) for m in messages)}"
            if prefix
            else " ".join(str(m) for m in messages)
        )
    return f"{prefix}: {messages}"
