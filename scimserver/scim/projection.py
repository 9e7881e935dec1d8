"""``attributes`` / ``excludedAttributes`` (RFC 7644 §3.9) honouring ``returned`` (RFC 7643 §7)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scimserver.schema.model import Attribute, AttrRef, ResourceType, View


@dataclass(frozen=True)
class Projection:
    """The attribute paths a client asked for, or asked to leave out (never both)."""

    attributes: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()

    def wants(self, ref: AttrRef) -> bool:
        """Whether the attribute (as a whole or any sub-attribute) will be returned."""
        return _decide(self, ref.attribute, _top_key(ref)) != "drop"


def _top_key(ref: AttrRef) -> str:
    name = ref.attribute.name.lower()
    if ref.is_extension and ref.schema is not None:
        return f"{ref.schema.id.lower()}:{name}"
    return name


def _keys(resource_type: ResourceType, raw: str | None) -> frozenset[str]:
    """Canonical lowercase keys (``emails.value``, ``urn:…:manager``); unknown names dropped."""
    if not raw:
        return frozenset()
    keys: set[str] = set()
    for part in raw.split(","):
        part = part.strip()
        ref = resource_type.resolve(part) if part else None
        if ref is not None:
            keys.add(ref.key)
        elif part and resource_type.extension(part) is not None:
            keys.add(part.lower())
    return frozenset(keys)


def parse_projection(
    resource_type: ResourceType, attributes: str | None, excluded: str | None
) -> Projection:
    """Parse the two query parameters; ``attributes`` wins when both are given."""
    wanted = _keys(resource_type, attributes)
    if wanted:
        return Projection(attributes=wanted)
    return Projection(excluded=_keys(resource_type, excluded))


def _decide(projection: Projection, attribute: Attribute, key: str) -> str:
    """'keep', 'drop' or 'partial' (some sub-attributes) for one top-level attribute."""
    if attribute.returned == "never":
        return "drop"
    if attribute.returned == "always":
        return "keep"
    if projection.attributes:
        if key in projection.attributes:
            return "keep"
        if any(k.startswith(key + ".") for k in projection.attributes):
            return "partial"
        return "drop"
    if attribute.returned == "request" or key in projection.excluded:
        return "drop"
    if projection.excluded and any(k.startswith(key + ".") for k in projection.excluded):
        return "partial"
    return "keep"


def _sub_keep(projection: Projection, sub: Attribute | None, key: str) -> bool:
    if sub is None or sub.returned == "never":
        return False
    if sub.returned == "always":
        return True
    if projection.attributes:
        return key in projection.attributes
    return sub.returned != "request" and key not in projection.excluded


def _trim(
    projection: Projection, attribute: Attribute, key: str, element: Mapping[str, Any]
) -> dict[str, Any]:
    """The sub-attributes of one complex value that the projection returns."""
    return {
        name: v
        for name, v in element.items()
        if _sub_keep(projection, attribute.sub(name), f"{key}.{name.lower()}")
    }


def _partial(projection: Projection, attribute: Attribute, key: str, value: Any) -> Any:
    def trim(element: Any) -> Any:
        return (
            _trim(projection, attribute, key, element) if isinstance(element, Mapping) else element
        )

    if isinstance(value, list):
        trimmed = [trim(e) for e in value]
        return [e for e in trimmed if e] or None
    return trim(value) or None


def _project_object(
    projection: Projection,
    lookup: Mapping[str, Attribute],
    prefix: str,
    source: Mapping[str, Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in source.items():
        attribute = lookup.get(name.lower())
        if attribute is None:
            continue
        key = prefix + name.lower()
        decision = _decide(projection, attribute, key)
        if decision == "keep":
            out[name] = value
        elif decision == "partial":
            kept = _partial(projection, attribute, key, value)
            if kept is not None:
                out[name] = kept
    return out


def project(
    resource_type: ResourceType, resource: Mapping[str, Any], projection: Projection
) -> dict[str, Any]:
    """The resource as the client asked to see it: ``schemas`` and ``id`` always, a
    ``returned: never`` value (a stored one too) never."""
    if not projection.attributes and not projection.excluded:
        return _by_default(resource_type, resource)
    visible = _shown(resource, resource_type.visible)
    out = _project_object(projection, resource_type.top_level, "", visible)
    for extension in resource_type.extensions:
        urn = extension.schema.id
        value = visible.get(urn)
        if not isinstance(value, Mapping):
            continue
        lookup = extension.schema.by_name
        if projection.attributes and urn.lower() in projection.attributes:
            out[urn] = dict(value)
            continue
        if urn.lower() in projection.excluded:
            continue
        kept = _project_object(projection, lookup, urn.lower() + ":", value)
        if kept:
            out[urn] = kept
    return _schemas_first(resource_type, visible, out)


def _by_default(resource_type: ResourceType, resource: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`project` when the client named no attributes: one walk of the document."""
    out = _shown(resource, resource_type.shown_by_default)
    out.pop("schemas", None)
    for extension in resource_type.extensions:  # after the core attributes, each non-empty
        value = out.pop(extension.schema.id, None)
        if isinstance(value, dict) and value:
            out[extension.schema.id] = value
    return _schemas_first(resource_type, resource, out)


def _schemas_first(
    resource_type: ResourceType, resource: Mapping[str, Any], out: dict[str, Any]
) -> dict[str, Any]:
    """``out`` after ``resource``'s ``schemas``: the core schema and the extensions kept."""
    core = resource_type.schema.id
    schemas = [urn for urn in resource.get("schemas") or [core] if urn == core or urn in out]
    return {"schemas": schemas, **out}


def _shown(source: Mapping[str, Any], view: View) -> dict[str, Any]:
    """The keys of ``source`` that ``view`` names, each value trimmed as the view says."""
    out = {name: value for name, value in source.items() if name in view.names}
    for name, sub in view.trimmed.items():
        if name in out:
            out[name] = _within(out[name], sub)
    return out


def _within(value: Any, view: View) -> Any:
    if isinstance(value, list):
        return [_shown(v, view) if isinstance(v, Mapping) else v for v in value]
    return _shown(value, view) if isinstance(value, Mapping) else value


ElementProjection = Callable[[dict[str, Any]], dict[str, Any]]
"""One element of a multi-valued attribute as returned; an empty dict is left out."""


@dataclass(frozen=True)
class Split:
    """A projected document around one multi-valued attribute whose elements come later.

    ``head`` holds the keys before the attribute and ``tail`` the keys after it, in the
    order :func:`project` gives them; ``element`` projects each element. As in
    :func:`project`, elements that project to nothing are left out, and so is the
    attribute when no element is left.
    """

    head: dict[str, Any]
    name: str
    element: ElementProjection
    tail: dict[str, Any]


class _Elements:
    """Stands in for an attribute's value while the rest of a document is projected."""


def split(
    resource_type: ResourceType, resource: Mapping[str, Any], name: str, projection: Projection
) -> Split | None:
    """Project ``resource`` with its top-level multi-valued ``name`` left to fill in.

    ``resource[name]`` marks where the attribute sits (its value is not read); None when
    the projection does not return the attribute.
    """
    attribute = resource_type.schema.attribute(name)
    assert attribute is not None and attribute.multi_valued
    decision = _decide(projection, attribute, name.lower())
    if decision == "drop":
        return None
    marker = _Elements()
    projected = project(resource_type, {**resource, name: marker}, projection)
    keys = list(projected)
    at = next(i for i, key in enumerate(keys) if projected[key] is marker)
    head = {key: projected[key] for key in keys[:at]}
    tail = {key: projected[key] for key in keys[at + 1 :]}
    return Split(head, keys[at], _element_projection(projection, attribute, decision), tail)


def _element_projection(
    projection: Projection, attribute: Attribute, decision: str
) -> ElementProjection:
    if decision == "keep":
        return _as_is
    return functools.partial(_trim, projection, attribute, attribute.name.lower())


def _as_is(element: dict[str, Any]) -> dict[str, Any]:
    return element
