"""The ``scimserver`` command: serve, migrate, and manage tenants, tokens and webhooks."""

from scimserver.cli.main import main

__all__ = ["main"]
