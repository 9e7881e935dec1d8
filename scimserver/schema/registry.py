"""Load schema and resource-type JSON files from directories into a registry."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from scimserver.schema.model import Extension, ResourceType, Schema

SCHEMA_URN = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE_URN = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"


class SchemaLoadError(Exception):
    """A schema directory holds a file that is not a valid schema or resource type."""


@dataclass(frozen=True)
class Registry:
    """Every schema and resource type the server knows, looked up case-insensitively."""

    schemas: tuple[Schema, ...]
    resource_types: tuple[ResourceType, ...]

    def schema(self, urn: str) -> Schema | None:
        return next((s for s in self.schemas if s.id.lower() == urn.lower()), None)

    def resource_type(self, name: str) -> ResourceType | None:
        return next((r for r in self.resource_types if r.id.lower() == name.lower()), None)

    @cached_property
    def endpoints(self) -> dict[str, str]:
        """Each resource type's endpoint by its id: where its resources live."""
        return {r.id: r.endpoint for r in self.resource_types}

    @cached_property
    def namings(self) -> dict[str, str | None]:
        """Each resource type's naming attribute by its id (:attr:`ResourceType.naming`)."""
        return {r.id: r.naming for r in self.resource_types}

    def by_endpoint(self, endpoint: str) -> ResourceType | None:
        wanted = "/" + endpoint.strip("/").lower()
        return next((r for r in self.resource_types if r.endpoint.lower() == wanted), None)


def default_schema_dir() -> Path:
    """The schemas shipped with the package (wheel), or the source tree's ``schemas/``."""
    packaged = Path(__file__).resolve().parent.parent / "schemas"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "schemas"


def _json_files(directory: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(directory.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SchemaLoadError(f"{path}: {exc}") from exc
        if not isinstance(data, dict):
            raise SchemaLoadError(f"{path}: expected a JSON object")
        yield path, data


def _kind(data: dict[str, Any]) -> str:
    schemas = [str(s).lower() for s in data.get("schemas", ())]
    if RESOURCE_TYPE_URN.lower() in schemas or "endpoint" in data:
        return "resource_type"
    if SCHEMA_URN.lower() in schemas or "attributes" in data:
        return "schema"
    return "other"


def load_registry(directories: Iterable[Path]) -> Registry:
    """Read every ``*.json`` below the directories; later directories override earlier ones."""
    schemas: dict[str, Schema] = {}
    raw_types: dict[str, tuple[Path, dict[str, Any]]] = {}
    for directory in directories:
        if not directory.is_dir():
            raise SchemaLoadError(f"{directory}: not a directory")
        for path, data in _json_files(directory):
            kind = _kind(data)
            try:
                if kind == "schema":
                    schema = Schema.from_json(data)
                    schemas[schema.id.lower()] = schema
                elif kind == "resource_type":
                    raw_types[str(data["id"]).lower()] = (path, data)
            except (KeyError, TypeError, AttributeError) as exc:
                raise SchemaLoadError(f"{path}: missing or malformed {exc}") from exc
    types = sorted(
        (_resource_type(path, data, schemas) for path, data in raw_types.values()),
        key=_listing_order,
    )
    return Registry(tuple(schemas.values()), tuple(types))


def _listing_order(resource_type: ResourceType) -> tuple[int, str]:
    """User first, then Group, then the rest by id: some clients read the first entry."""
    first = ("user", "group")
    rank = first.index(resource_type.id.lower()) if resource_type.id.lower() in first else 2
    return rank, resource_type.id.lower()


def _resource_type(path: Path, data: dict[str, Any], schemas: dict[str, Schema]) -> ResourceType:
    def schema(urn: str) -> Schema:
        found = schemas.get(urn.lower())
        if found is None:
            raise SchemaLoadError(f"{path}: unknown schema {urn}")
        return found

    extensions = tuple(
        Extension(schema(e["schema"]), bool(e.get("required", False)))
        for e in data.get("schemaExtensions", ())
    )
    return ResourceType(
        id=data["id"],
        name=data.get("name", data["id"]),
        endpoint="/" + str(data["endpoint"]).strip("/"),
        description=data.get("description", ""),
        schema=schema(data["schema"]),
        extensions=extensions,
    )
