"""``scimserver admin``: accounts made from the command line, refusals in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scimserver.cli import main
from scimserver.config import Settings
from scimserver.service.server import Server
from scimserver.wiring import build
from tests.conftest import cli_env

PASSWORD = "correct horse battery"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path / "admins.db")


def invoke(env: dict[str, str], *args: str, stdin: str = "") -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=stdin)


def built(env: dict[str, str]) -> Server:
    return build(Settings(database_url=env["SCIMSERVER_DATABASE_URL"]))


def test_create_from_stdin_then_sign_in(env: dict[str, str]) -> None:
    result = invoke(env, "admin", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "Created admin 'alice' (every tenant)" in result.output
    admins = built(env).admins
    assert admins.sign_in("alice", PASSWORD, "127.0.0.1") is not None
    assert admins.sign_in("alice", PASSWORD + "x", "127.0.0.1") is None


def test_prompt_asks_twice_and_refuses_a_mismatch(env: dict[str, str]) -> None:
    result = invoke(env, "admin", "create", "bob", stdin=f"{PASSWORD}\n{PASSWORD}!\n")
    assert result.exit_code == 1
    assert result.output.count("assword") >= 2
    assert "differ" in result.output
    assert PASSWORD not in result.output
    ok = invoke(env, "admin", "create", "bob", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert ok.exit_code == 0, ok.output


def test_refuses_short_passwords_and_unknown_tenants(env: dict[str, str]) -> None:
    short = invoke(env, "admin", "create", "carol", "--password-stdin", stdin="short\n")
    assert short.exit_code == 1
    assert "at least 12 characters" in short.output
    empty = invoke(env, "admin", "create", "carol", "--password-stdin", stdin="\n")
    assert empty.exit_code == 1
    unknown = invoke(
        env, "admin", "create", "carol", "--tenant", "nope", "--password-stdin", stdin=PASSWORD
    )
    assert unknown.exit_code == 1
    assert "No tenant 'nope'" in unknown.output
    assert len(unknown.stderr.strip().splitlines()) == 2  # the database, the refusal
    assert "carol" not in invoke(env, "admin", "list").output


def test_list_password_and_delete(env: dict[str, str]) -> None:
    invoke(env, "tenant", "create", "acme")
    created = invoke(
        env, "admin", "create", "dave", "--tenant", "acme", "--password-stdin", stdin=PASSWORD
    )
    assert "(acme)" in created.output
    listing = invoke(env, "admin", "list").stdout.splitlines()
    assert listing[1].split()[:2] == ["dave", "acme"]
    session = built(env).admins.sign_in("dave", PASSWORD, "10.0.0.1")
    assert session is not None
    new = "another long password"
    assert invoke(env, "admin", "password", "dave", "--password-stdin", stdin=new).exit_code == 0
    admins = built(env).admins
    assert admins.session(session) is None  # a new password ends the sessions
    assert admins.sign_in("dave", new, "10.0.0.1") is not None
    assert invoke(env, "admin", "delete", "dave").exit_code == 0
    gone = invoke(env, "admin", "delete", "dave")
    assert gone.exit_code == 1 and "No admin 'dave'" in gone.output
    assert invoke(env, "admin", "create", "dave", "--password-stdin", stdin=PASSWORD).exit_code == 0
    assert (
        "already exists"
        in invoke(env, "admin", "create", "dave", "--password-stdin", stdin=PASSWORD).output
    )
