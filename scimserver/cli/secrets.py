"""``scimserver secrets``: keys that encrypt the secrets stored in the database."""

from __future__ import annotations

import click

from scimserver.cli.common import server
from scimserver.store.sealed import new_key


@click.group()
def secrets() -> None:
    """Encryption of the stored signing keys, webhook secrets and HMAC keys."""


@secrets.command("generate-key")
def generate_key() -> None:
    """Print a new key for SCIMSERVER_SECRET_KEY."""
    click.echo(new_key())


@secrets.command("rotate")
def rotate() -> None:
    """Encrypt every stored secret with the first key of SCIMSERVER_SECRET_KEY.

    Secrets stored in clear, or under another of its keys, are rewritten. To replace a
    key: set SCIMSERVER_SECRET_KEY=NEW,OLD everywhere, run this, then drop OLD.
    """
    count = server().reseal_secrets()
    click.echo(f"Encrypted {count} row(s) of secrets with the first key of SCIMSERVER_SECRET_KEY.")
