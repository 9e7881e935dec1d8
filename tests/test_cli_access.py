"""``scimserver access``: the mapping commands scripts rely on, and their refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli_tenants import fails, populate, run


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    found = {"SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'access.db'}"}
    run(found, "db", "upgrade")  # commands use an existing database only
    return found


def test_map_list_unmap_admin_and_default_role(env: dict[str, str]) -> None:
    run(env, "tenant", "create", "acme")
    populate(env, "acme")  # user bjensen in group "staff"
    assert "priority 1" in run(
        env, "access", "map", "crm", "--idp-group", "STAFF", "--tenant", "acme"
    )
    run(env, "access", "map", "wiki", "--idp-group", "staff", "--tenant", "acme", "--priority", "7")
    run(env, "access", "admin", "--idp-group", "staff", "--tenant", "acme")
    run(env, "access", "default-role", "guest", "--tenant", "acme")
    listed = json.loads(run(env, "access", "list", "--json", "--tenant", "acme"))
    assert [
        (m["appGroup"], m["idpGroup"]["displayName"], m["priority"]) for m in listed["mappings"]
    ] == [
        ("crm", "staff", 1),
        ("wiki", "staff", 7),
    ]
    assert listed["defaultRole"] == "guest"
    assert listed["admin"]["idpGroup"]["displayName"] == "staff"
    run(env, "access", "unmap", "crm", "--tenant", "acme")
    assert "wiki" in run(env, "access", "list", "--tenant", "acme")
    assert "crm" not in run(env, "access", "list", "--tenant", "acme")


def test_refusals_are_one_line(env: dict[str, str]) -> None:
    assert "No IdP group" in fails(env, "access", "map", "crm", "--idp-group", "nope")
    assert "No app group" in fails(env, "access", "unmap", "crm")
    assert "boolean" in fails(env, "access", "admin", "--attribute", "userName")
    assert "No tenant" in fails(env, "access", "list", "--tenant", "nobody")
