"""SCIM schemas as data: typed definitions loaded from JSON, and what is built from them."""

from scimserver.schema.model import (
    CORE_GROUP,
    CORE_USER,
    ENTERPRISE_USER,
    Attribute,
    AttrRef,
    Extension,
    ResourceType,
    Schema,
)
from scimserver.schema.registry import Registry, SchemaLoadError, default_schema_dir, load_registry

__all__ = [
    "CORE_GROUP",
    "CORE_USER",
    "ENTERPRISE_USER",
    "AttrRef",
    "Attribute",
    "Extension",
    "Registry",
    "ResourceType",
    "Schema",
    "SchemaLoadError",
    "default_schema_dir",
    "load_registry",
]
