"""What the commands share: settings, the server, tables and the once-shown secret."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

from scimserver.config import Settings
from scimserver.service.server import Server
from scimserver.service.tokens import TokenError, TokenInfo, UnknownTenant
from scimserver.store.location import describe, sqlite_path
from scimserver.wiring import build, secrets_note

URL_VARIABLE = "SCIMSERVER_DATABASE_URL"


def settings() -> Settings:
    return Settings.from_env()


def server(create: bool = False, secrets: bool = False) -> Server:
    """The parts the wiring builds (the database migrated), only when a command runs,
    after a line on stderr naming its database (and with ``secrets``, one saying how it
    keeps its secrets). A SQLite file that does not exist is refused unless ``create``:
    a command run in the wrong folder must not make an empty database of its own."""
    config = settings()
    click.echo(database_line(config), err=True)
    refuse_missing(config, create)
    if secrets:
        click.echo(secrets_note(config), err=True)
    return build(config)


def database_line(config: Settings) -> str:
    """``Database: <url>``, any password masked and a SQLite path made absolute."""
    return f"Database: {describe(config.database_url)}"


def refuse_missing(config: Settings, create: bool) -> None:
    """A one-line failure for a SQLite file that does not exist, unless ``create``."""
    url = config.database_url
    path = sqlite_path(url)
    if create or path is None or path.exists():
        return
    source = (
        f"{URL_VARIABLE} is {url!r}"
        if os.environ.get(URL_VARIABLE)
        else f"{URL_VARIABLE} is not set: the default {url!r} is relative to the current folder"
    )
    raise click.ClickException(
        f"no SQLite database at {path} ({source}). Point {URL_VARIABLE} at the server's "
        "database, or create this one with `scimserver db upgrade`."
    )


def tenant_id(built: Server, name: str | None) -> int:
    """The id of tenant ``name`` (default: the default tenant), or a one-line failure."""
    tenant = name or built.settings.default_tenant
    found = built.tenants().find(tenant)
    if found is None:
        raise click.ClickException(f"No tenant {tenant!r} — see `scimserver tenant list`.")
    return found


def failure(exc: TokenError) -> click.ClickException:
    """A token or tenant command's refusal as one line."""
    if isinstance(exc, UnknownTenant):
        return click.ClickException(f"No tenant {exc.name!r} — see `scimserver tenant list`.")
    return click.ClickException(str(exc))


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_iso))


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def print_secret(info: TokenInfo, secret: str) -> None:
    click.echo(
        f"Token {info.name!r} ({info.scope}) for tenant {info.tenant!r}, prefix {info.prefix}:"
    )
    click.echo("")
    click.echo(f"    {secret}")
    click.echo("")
    click.echo("It is shown once and cannot be recovered; store it in your IdP now.")
