"""With SCIMSERVER_SECRET_KEY, the signing keys, webhook secrets and HMAC keys are stored
encrypted: unreadable without the key, readable again after ``scimserver secrets rotate``
moves them to a new one. Without it they are stored in clear, and the server says so."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, select, text

from scimserver.cli import main
from scimserver.config import Settings
from scimserver.service.server import Server
from scimserver.store.db import normalise_url
from scimserver.store.models import Subscription
from scimserver.store.sealed import PREFIX, SecretKeyError, new_key
from scimserver.wiring import build

ISSUER = "https://scim.test/scim/v2"
STORED = (
    "SELECT value FROM server_keys UNION ALL SELECT private_pem FROM signing_keys "
    "UNION ALL SELECT secret FROM webhook_subscriptions"
)


def stored(url: str) -> list[str]:
    """The secrets as the database holds them, read past the application."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text(STORED))]
    finally:
        engine.dispose()


def built(url: str, key: str = "") -> Server:
    return build(Settings(database_url=url, secret_key=key, base_url=ISSUER))


def with_secrets(server: Server) -> str:
    """Make every kind of stored secret; the webhook's, as shown once to the operator."""
    tenant = server.tenants().ensure("sealed")
    server.set_issuer(tenant)  # creates the tenant's SET signing key
    _, secret = server.webhooks().add("https://hooks.example.com/scim", tenant, "json", None)
    return secret


def webhook_secret(server: Server) -> str:
    with server.db.read() as session:
        return session.scalars(select(Subscription.secret)).one()


def cli(url: str, key: str, *args: str) -> Result:
    env = {"SCIMSERVER_DATABASE_URL": url, "SCIMSERVER_SECRET_KEY": key}
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture
def url(backend: str, database_url_factory: Any) -> Iterator[str]:
    yield database_url_factory(backend)


def test_encrypted_secrets_are_unreadable_without_the_key(url: str) -> None:
    key = new_key()
    server = built(url, key)
    secret = with_secrets(server)
    server.db.dispose()
    kept = stored(url)
    assert len(kept) >= 3 and all(value.startswith(PREFIX) for value in kept)
    assert not any(secret in value or "PRIVATE KEY" in value for value in kept)
    for wrong in ("", new_key()):
        with pytest.raises(SecretKeyError):
            built(url, wrong)
    refused = cli(url, "", "token", "list")
    assert refused.exit_code == 1
    assert refused.stderr.splitlines()[-1] == (
        "Error: The database's secrets are encrypted: set SCIMSERVER_SECRET_KEY to their key."
    )
    again = built(url, key)
    assert webhook_secret(again) == secret
    again.db.dispose()


def test_rotation_moves_every_secret_to_the_new_key(url: str) -> None:
    old, new = new_key(), new_key()
    server = built(url, old)
    secret = with_secrets(server)
    server.db.dispose()
    before = stored(url)
    rotated = cli(url, f"{new},{old}", "secrets", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert f"Encrypted {len(before)} row(s)" in rotated.stdout
    after = stored(url)
    assert all(value.startswith(PREFIX) for value in after) and not set(after) & set(before)
    with pytest.raises(SecretKeyError):
        built(url, old)
    server = built(url, new)
    assert webhook_secret(server) == secret
    server.db.dispose()


def test_secrets_stored_in_clear_are_encrypted_by_rotate(url: str) -> None:
    server = built(url)
    secret = with_secrets(server)
    server.db.dispose()
    assert secret in stored(url)  # in clear, as before a key was set
    key = new_key()
    assert cli(url, key, "secrets", "rotate").exit_code == 0
    assert secret not in stored(url) and all(v.startswith(PREFIX) for v in stored(url))
    server = built(url, key)
    assert webhook_secret(server) == secret
    server.db.dispose()


def test_a_malformed_key_is_one_line() -> None:
    refused = cli("sqlite://", "not-a-fernet-key", "tenant", "list")
    assert refused.exit_code == 1
    assert "SCIMSERVER_SECRET_KEY must be Fernet keys" in refused.stderr
    generated = CliRunner().invoke(main, ["secrets", "generate-key"])
    assert generated.exit_code == 0 and len(generated.stdout.strip()) == 44
