"""The scimserver command: tokens are shown once, listed without secrets, revocable."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from scimserver.app import create_app
from scimserver.cli import main
from scimserver.config import Settings


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


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
