"""Helpers for replaying an identity provider's documented requests verbatim.

A documented request is kept as the JSON text the vendor published; ``send`` swaps the
vendor's sample ids for the ids our server assigned, so the rest of the body stays
exactly as written.
"""

from __future__ import annotations

import uuid
from typing import Any

from werkzeug.test import TestResponse

from tests.conftest import ScimClient

SCIM_JSON = "application/scim+json"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def substitute(template: str, subs: dict[str, str] | None = None) -> str:
    """The template with each documented sample value replaced; a missing one is a bug."""
    out = template
    for documented, actual in (subs or {}).items():
        assert documented in out, f"{documented!r} is not in the documented request"
        out = out.replace(documented, actual)
    return out


def send(
    scim: ScimClient,
    method: str,
    path: str,
    template: str,
    subs: dict[str, str] | None = None,
    content_type: str = SCIM_JSON,
) -> TestResponse:
    """Send a documented body as text, with the content type the IdP sends."""
    return scim.open(
        method, path, data=substitute(template, subs), headers={"Content-Type": content_type}
    )


def found(scim: ScimClient, endpoint: str, filter_text: str) -> list[dict[str, Any]]:
    """The resources a filter finds (asserting a well-formed ListResponse)."""
    response = scim.get(endpoint, query_string={"filter": filter_text})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["schemas"] == [LIST_RESPONSE]
    assert body["totalResults"] == len(body.get("Resources", []))
    resources: list[dict[str, Any]] = body.get("Resources", [])
    return resources


def stored(scim: ScimClient, endpoint: str, resource_id: str) -> dict[str, Any]:
    """The resource as a later GET returns it."""
    response = scim.get(f"{endpoint}/{resource_id}")
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def random_guid() -> str:
    return str(uuid.uuid4())
