"""The scimserver command: tokens are shown once, listed without secrets, revocable."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from scimserver.app import create_app
from scimserver.cli import main
from scimserver.config import Settings
from scimserver.store.db import Database
from scimserver.store.models import Token
from tests.conftest import cli_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path / "cli.db")


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def secret_from(output: str) -> str:
    return next(line.strip() for line in output.splitlines() if line.strip().startswith("scim_"))


def test_token_lifecycle(env: dict[str, str]) -> None:
    output = run(
        env,
        "token",
        "create",
        "--name",
        "onelogin",
        "--scope",
        "read",
        "--expires-in",
        "30d",
        "--tenant",
        "acme",
        "--create-tenant",
    )
    secret = secret_from(output)
    listing = run(env, "token", "list")
    assert "onelogin" in listing and "acme" in listing and "read" in listing
    assert secret not in listing
    app = create_app(Settings(database_url=env["SCIMSERVER_DATABASE_URL"]))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/scim/v2/Users", headers=headers).status_code == 200
    assert client.post("/scim/v2/Users", json={"userName": "x"}, headers=headers).status_code == 403
    assert "Revoked token 'onelogin'" in run(env, "token", "revoke", "onelogin", "--tenant", "acme")
    assert client.get("/scim/v2/Users", headers=headers).status_code == 401
    assert "-" not in run(env, "token", "list").splitlines()[1].split()[-1]


def test_token_create_rejects_bad_duration(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        main, ["token", "create", "--name", "x", "--expires-in", "soon"], env=env
    )
    assert result.exit_code != 0
    assert "duration" in result.output


def test_revoking_unknown_token_fails(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["token", "revoke", "nope"], env=env)
    assert result.exit_code != 0


def test_db_upgrade(env: dict[str, str]) -> None:
    assert "up to date" in run(env, "db", "upgrade")


def fails(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.output


def test_token_create_refuses_an_unknown_tenant_with_a_hint(env: dict[str, str]) -> None:
    output = fails(env, "token", "create", "--name", "okta", "--tenant", "acem")
    assert "no tenant 'acem'" in output
    assert "scimserver tenant create acem" in output and "--create-tenant" in output
    assert "acem" not in run(env, "tenant", "list")
    run(env, "tenant", "create", "acem")
    assert secret_from(run(env, "token", "create", "--name", "okta", "--tenant", "acem"))


def test_token_names_are_unique_per_tenant(env: dict[str, str]) -> None:
    run(env, "token", "create", "--name", "okta")
    output = fails(env, "token", "create", "--name", "okta")
    assert "already has a token named 'okta'" in output
    run(env, "token", "create", "--name", "okta", "--tenant", "acme", "--create-tenant")
    listing = json.loads(run(env, "token", "list", "--json"))
    assert sorted((t["name"], t["tenant"]) for t in listing) == [
        ("okta", "acme"),
        ("okta", "default"),
    ]


def test_the_database_refuses_a_duplicate_token_name(env: dict[str, str]) -> None:
    run(env, "token", "create", "--name", "okta")
    db = Database(env["SCIMSERVER_DATABASE_URL"])
    try:
        with pytest.raises(IntegrityError), db.write() as session:
            first = session.scalars(select(Token)).one()
            session.add(
                Token(
                    tenant_id=first.tenant_id,
                    name="okta",
                    prefix="0123456789ab",
                    secret_hash="0" * 64,
                    scope="write",
                    created=first.created,
                )
            )
    finally:
        db.dispose()


def test_revoke_names_one_token_in_a_tenant_or_any_by_prefix(env: dict[str, str]) -> None:
    run(env, "token", "create", "--name", "okta")
    acme = secret_from(
        run(env, "token", "create", "--name", "okta", "--tenant", "acme", "--create-tenant")
    )
    assert "tenant 'default'" in run(env, "token", "revoke", "okta")
    assert "already revoked" in fails(env, "token", "revoke", "okta")
    client = api(env)
    assert client.get("/scim/v2/Users", headers=bearer(acme)).status_code == 200
    prefix = acme.split("_")[1]
    assert "tenant 'acme'" in run(env, "token", "revoke", prefix)
    assert client.get("/scim/v2/Users", headers=bearer(acme)).status_code == 401
    assert "No token named 'nope'" in fails(env, "token", "revoke", "nope", "--tenant", "acme")


def test_token_list_filters_by_tenant_and_prints_json(env: dict[str, str]) -> None:
    run(env, "token", "create", "--name", "a")
    run(env, "token", "create", "--name", "b", "--tenant", "acme", "--create-tenant")
    table = run(env, "token", "list", "--tenant", "acme")
    assert table.splitlines()[0].split()[:3] == ["NAME", "PREFIX", "TENANT"]
    assert table.splitlines()[0].endswith("REVOKED  ROTATION")  # every column labelled
    run(env, "token", "rotate", "b", "--tenant", "acme")
    rotating = run(env, "token", "list", "--tenant", "acme").splitlines()
    assert rotating[1][rotating[0].index("ROTATION") :].startswith("old secret until ")
    assert [line.split()[0] for line in table.splitlines()[1:]] == ["b"]
    (only,) = json.loads(run(env, "token", "list", "--tenant", "acme", "--json"))
    assert only["name"] == "b" and only["tenant"] == "acme" and only["scope"] == "write"
    assert only["revoked_at"] is None and "secret_hash" not in only
    assert "No tenant 'nope'" in fails(env, "token", "list", "--tenant", "nope")


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def api(env: dict[str, str]) -> FlaskClient:
    return create_app(Settings(database_url=env["SCIMSERVER_DATABASE_URL"])).test_client()


def end_overlap(env: dict[str, str], name: str) -> None:
    db = Database(env["SCIMSERVER_DATABASE_URL"])
    try:
        with db.write() as session:
            session.execute(
                update(Token)
                .where(Token.name == name)
                .values(previous_expires_at=datetime(2000, 1, 1))
            )
    finally:
        db.dispose()


def test_rotate_keeps_the_old_secret_for_the_overlap(env: dict[str, str]) -> None:
    old = secret_from(run(env, "token", "create", "--name", "okta", "--scope", "read"))
    output = run(env, "token", "rotate", "okta", "--overlap", "1d")
    new = secret_from(output)
    assert new != old and "(read)" in output and "keeps working until" in output
    client = api(env)
    for secret in (old, new):
        assert client.get("/scim/v2/Users", headers=bearer(secret)).status_code == 200
    (listed,) = json.loads(run(env, "token", "list", "--json"))
    assert listed["prefix"] == new.split("_")[1] and listed["previous_expires_at"]
    end_overlap(env, "okta")
    assert client.get("/scim/v2/Users", headers=bearer(old)).status_code == 401
    assert client.get("/scim/v2/Users", headers=bearer(new)).status_code == 200


def test_rotate_with_no_overlap_ends_the_old_secret_at_once(env: dict[str, str]) -> None:
    old = secret_from(run(env, "token", "create", "--name", "okta"))
    assert "no longer works" in run(env, "token", "rotate", "okta", "--overlap", "0")
    assert api(env).get("/scim/v2/Users", headers=bearer(old)).status_code == 401


def test_rotating_again_ends_the_first_secret(env: dict[str, str]) -> None:
    first = secret_from(run(env, "token", "create", "--name", "okta"))
    second = secret_from(run(env, "token", "rotate", "okta"))
    third = secret_from(run(env, "token", "rotate", "okta"))
    client = api(env)
    statuses = [
        client.get("/scim/v2/Users", headers=bearer(s)).status_code for s in (first, second, third)
    ]
    assert statuses == [401, 200, 200]


def test_revoke_during_an_overlap_ends_both_secrets(env: dict[str, str]) -> None:
    old = secret_from(run(env, "token", "create", "--name", "okta"))
    new = secret_from(run(env, "token", "rotate", "okta"))
    run(env, "token", "revoke", "okta")
    client = api(env)
    for secret in (old, new):
        assert client.get("/scim/v2/Users", headers=bearer(secret)).status_code == 401
    assert "revoked or expired" in fails(env, "token", "rotate", "okta")


def test_rotate_refuses_an_unknown_token(env: dict[str, str]) -> None:
    assert "no token named 'okta'" in fails(env, "token", "rotate", "okta")
    assert "No tenant 'acme'" in fails(env, "token", "rotate", "okta", "--tenant", "acme")
    assert "duration" in fails(env, "token", "create", "--name", "x", "--expires-in", "soon")
