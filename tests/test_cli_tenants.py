"""``scimserver tenant``: tenants are created on purpose, listed with counts, deleted safely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scimserver.app import create_app
from scimserver.cli import main
from scimserver.config import Settings
from tests.conftest import cli_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path / "tenants.db")


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def fails(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 1, result.output
    return result.output


def populate(env: dict[str, str], tenant: str) -> str:
    """A user and a group in ``tenant``, made through the API; returns the token."""
    output = run(env, "token", "create", "--name", "idp", "--tenant", tenant)
    secret = next(line.strip() for line in output.splitlines() if "scim_" in line)
    client = create_app(Settings(database_url=env["SCIMSERVER_DATABASE_URL"])).test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    user = client.post("/scim/v2/Users", json={"userName": "bjensen"}, headers=headers)
    members = [{"value": user.get_json()["id"]}]
    group = {"displayName": "staff", "members": members}
    assert client.post("/scim/v2/Groups", json=group, headers=headers).status_code == 201
    return secret


def tenants(env: dict[str, str]) -> dict[str, dict[str, object]]:
    return {t["name"]: t for t in json.loads(run(env, "tenant", "list", "--json"))}


def test_create_and_list_with_counts(env: dict[str, str]) -> None:
    assert "Created tenant 'acme'" in run(env, "tenant", "create", "acme")
    assert "already exists" in fails(env, "tenant", "create", "acme")
    populate(env, "acme")
    listed = tenants(env)
    assert set(listed) == {"acme", "default"}
    acme = listed["acme"]
    assert (acme["tokens"], acme["users"], acme["groups"]) == (1, 1, 1)
    assert acme["created"]
    table = run(env, "tenant", "list").splitlines()
    assert table[0].split() == ["NAME", "CREATED", "TOKENS", "USERS", "GROUPS"]
    assert table[1].split()[0] == "acme" and table[1].split()[-3:] == ["1", "1", "1"]


def test_rename_keeps_tokens_and_data(env: dict[str, str]) -> None:
    run(env, "tenant", "create", "acme")
    populate(env, "acme")
    run(env, "tenant", "create", "other")
    assert "already exists" in fails(env, "tenant", "rename", "acme", "other")
    assert "No tenant 'nope'" in fails(env, "tenant", "rename", "nope", "x")
    assert "Renamed" in run(env, "tenant", "rename", "acme", "acme-corp")
    listed = tenants(env)
    assert "acme" not in listed and listed["acme-corp"]["users"] == 1
    (token,) = json.loads(run(env, "token", "list", "--json", "--tenant", "acme-corp"))
    assert token["name"] == "idp"


def test_delete_refuses_a_tenant_with_data_unless_forced(env: dict[str, str]) -> None:
    run(env, "tenant", "create", "acme")
    secret = populate(env, "acme")
    output = fails(env, "tenant", "delete", "acme")
    assert "holds 2 user(s)/group(s)" in output and "--force" in output
    assert "acme" in tenants(env)
    assert "2 user(s)/group(s)" in run(env, "tenant", "delete", "acme", "--force")
    assert "acme" not in tenants(env)
    assert json.loads(run(env, "token", "list", "--json")) == []
    client = create_app(Settings(database_url=env["SCIMSERVER_DATABASE_URL"])).test_client()
    response = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401


def test_delete_of_an_empty_tenant_removes_its_tokens(env: dict[str, str]) -> None:
    run(env, "token", "create", "--name", "okta", "--tenant", "acme", "--create-tenant")
    run(env, "token", "create", "--name", "keep")
    assert "Deleted tenant 'acme'" in run(env, "tenant", "delete", "acme")
    assert [t["name"] for t in json.loads(run(env, "token", "list", "--json"))] == ["keep"]


def test_the_default_tenant_needs_force(env: dict[str, str]) -> None:
    assert "default tenant" in fails(env, "tenant", "delete", "default")
    run(env, "tenant", "delete", "default", "--force")
    assert "No tenant 'nope'" in fails(env, "tenant", "delete", "nope")
