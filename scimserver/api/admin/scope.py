"""Tenant scoping: a connection named in a URL is found only when the admin may see it."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort

from scimserver.api.admin.session import signed_in_admin
from scimserver.api.context import server


@dataclass(frozen=True)
class Connection:
    """The connection (tenant) a console URL names."""

    name: str
    id: int


def connection(name: str) -> Connection:
    """The connection called ``name``; 404 when it does not exist or is not the admin's."""
    tenant_id = server().admins.tenant_id(signed_in_admin(), name)
    if tenant_id is None:
        abort(404)
    return Connection(name, tenant_id)
