"""``scimserver keys``: a rotation publishes the new key beside the old one until the old
one retires; SETs signed before it still verify meanwhile (PyJWT, as a receiver would)."""

from __future__ import annotations

from pathlib import Path

import jwt
from click.testing import CliRunner

from scimserver.app import create_app
from scimserver.cli import main
from scimserver.config import Settings
from tests.api.test_sets import pinned, poll, start, verify_with
from tests.conftest import cli_env, close_app, make_client


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_rotation_publishes_both_keys_until_the_old_one_retires(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    env = {"SCIMSERVER_DATABASE_URL": url, "SCIMSERVER_BASE_URL": "https://scim.test/scim/v2"}
    app = create_app(Settings(database_url=url, base_url=env["SCIMSERVER_BASE_URL"]))
    try:
        scim = make_client(app, tenant="acme")
        other = make_client(app, tenant="beta")
        start(scim)
        scim.create_user()
        (before,) = poll(scim, {"returnImmediately": True}).get_json()["sets"].values()
        old_kid = jwt.get_unverified_header(before)["kid"]
        assert old_kid.startswith("tenant-")

        output = run(env, "keys", "rotate", "--tenant", "acme", "--overlap", "7d")
        assert f"retiring {old_kid}" in output
        assert "'beta'" not in output
        app.extensions["scimserver"].keys._current.clear()  # as after KEY_REFRESH
        listing = run(env, "keys", "list", "--tenant", "acme").splitlines()
        assert [line.split()[0] for line in listing[1:]] == [old_kid, listing[2].split()[0]]

        scim.create_user()
        acked = {
            "returnImmediately": True,
            "ack": [jwt.decode(before, options={"verify_signature": False})["jti"]],
        }
        (after,) = poll(scim, acked).get_json()["sets"].values()
        new_kid = jwt.get_unverified_header(after)["kid"]
        assert new_kid != old_kid
        pin = pinned(scim)
        assert {k.key_id for k in pin.keys.keys} == {old_kid, new_kid}
        verify_with(pin, before)  # signed before the rotation: still verifies
        verify_with(pin, after)
        assert len(pinned(other).keys.keys) == 1  # beta was not rotated

        run(env, "keys", "rotate", "--tenant", "acme", "--overlap", "0s")
        assert old_kid not in {k.key_id for k in pinned(scim).keys.keys}
        assert new_kid not in {k.key_id for k in pinned(scim).keys.keys}
    finally:
        close_app(app)


def test_rotate_refuses_an_unknown_tenant_and_a_bad_overlap(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "keys.db")
    unknown = CliRunner().invoke(main, ["keys", "rotate", "--tenant", "nope"], env=env)
    assert unknown.exit_code == 1 and "No tenant 'nope'" in unknown.output
    bad = CliRunner().invoke(main, ["keys", "rotate", "--overlap", "soon"], env=env)
    assert bad.exit_code == 1 and "Not a duration" in bad.output
