"""Read /metrics as a scraper would, and build apps with observability settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from scimserver.app import create_app
from scimserver.config import Settings
from tests.conftest import ScimClient, close_app

LEGACY_ENTERPRISE = "urn:scim:schemas:extension:enterprise:1.0"


def samples(text: str) -> list[Sample]:
    """Every sample of a Prometheus text exposition."""
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
    return sum(
        s.value
        for s in samples(text)
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


@contextmanager
def app_with(database_url: str, **settings: Any) -> Iterator[Flask]:
    application = create_app(Settings(database_url=database_url, **settings))
    try:
        yield application
    finally:
        close_app(application)


def client_named(app: Flask, name: str | None = None) -> ScimClient:
    """A write client whose token has a name of its own, in a tenant of its own."""
    tenant = f"tenant-{uuid.uuid4().hex[:10]}"
    name = name or f"idp-{uuid.uuid4().hex[:8]}"
    _, secret = app.extensions["scimserver"].tokens.create(name, tenant, "write")
    return ScimClient(app.test_client(), secret, tenant)
