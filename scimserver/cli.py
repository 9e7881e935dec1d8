"""The ``scimserver`` command: serve, migrate, and manage bearer tokens."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import datetime

import click
from flask.cli import FlaskGroup

from scimserver.app import create_app
from scimserver.config import Settings
from scimserver.service.server import Server
from scimserver.service.tokens import TokenError, TokenInfo, TokenService
from scimserver.store import migrate
from scimserver.store.db import Database


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=False)
def main() -> None:
    """scimserver: a SCIM 2.0 provisioning server."""


def _settings() -> Settings:
    return Settings.from_env()


def _print_secret(info: TokenInfo, secret: str) -> None:
    click.echo(
        f"Token {info.name!r} ({info.scope}) for tenant {info.tenant!r}, prefix {info.prefix}:"
    )
    click.echo("")
    click.echo(f"    {secret}")
    click.echo("")
    click.echo("It is shown once and cannot be recovered; store it in your IdP now.")


@main.command()
@click.option("--bind", help="Address to listen on (SCIMSERVER_BIND, default 127.0.0.1:8000).")
@click.option("--workers", type=int, help="gunicorn worker processes (SCIMSERVER_WORKERS).")
@click.option(
    "--initial-token/--no-initial-token",
    default=True,
    show_default=True,
    help="Create and print a write token when the database has none.",
)
def serve(bind: str | None, workers: int | None, initial_token: bool) -> None:
    """Migrate the database and serve SCIM under gunicorn."""
    settings = _settings()
    server = Server.build(settings)
    if initial_token and not server.tokens.listing():
        info, secret = server.tokens.create("initial", settings.default_tenant, "write")
        _print_secret(info, secret)
    server.db.dispose()
    bind = bind or settings.bind
    workers = workers or settings.workers
    click.echo(f"Serving SCIM at http://{bind}/scim/v2 with {workers} workers.", err=True)
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    args = [
        gunicorn,
        "--bind",
        bind,
        "--workers",
        str(workers),
        # Threads, so a change-feed reader long-polling for 30 s holds a thread, not a
        # whole worker: the IdP's writes keep being served beside waiting readers.
        "--worker-class",
        "scimserver.api.worker.ScimWorker",  # gthread, with SCIM error bodies
        "--limit-request-line",
        "8190",  # gunicorn's largest: filters up to ~8 KB in a GET; beyond, a SCIM 414
        "--threads",
        str(settings.threads),
        "--access-logfile",
        "-",
        "--forwarded-allow-ips",
        os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        # gunicorn's control socket sits at one path per user (~/.gunicorn/gunicorn.ctl):
        # two servers on a host would take it from each other, and nothing here uses it.
        "--no-control-socket",
        "scimserver.wsgi:app",
    ]
    sys.stdout.flush()
    os.execv(gunicorn, args)  # noqa: S606 -- replace this process with gunicorn, no shell


@main.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    database = Database(_settings().database_url)
    migrate.upgrade(database)
    click.echo("Database is up to date.")


@main.group()
def token() -> None:
    """Issue, list and revoke bearer tokens."""


def _tokens() -> TokenService:
    database = Database(_settings().database_url)
    migrate.upgrade(database)
    return TokenService(database)


@token.command("create")
@click.option("--name", required=True, help="What the token is for, e.g. onelogin.")
@click.option("--scope", type=click.Choice(["write", "read"]), default="write", show_default=True)
@click.option("--expires-in", help="Lifetime such as 90d, 12h or 1y (default: never).")
@click.option("--tenant", help="Tenant the token acts in (default: SCIMSERVER_DEFAULT_TENANT).")
def token_create(name: str, scope: str, expires_in: str | None, tenant: str | None) -> None:
    """Create a token and print its secret once."""
    try:
        info, secret = _tokens().create(
            name, tenant or _settings().default_tenant, scope, expires_in
        )
    except TokenError as exc:
        raise click.UsageError(str(exc)) from exc
    _print_secret(info, secret)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@token.command("list")
def token_list() -> None:
    """List tokens (never their secrets)."""
    rows = [("NAME", "PREFIX", "TENANT", "SCOPE", "CREATED", "EXPIRES", "LAST USED", "REVOKED")]
    for t in _tokens().listing():
        rows.append(
            (
                t.name,
                t.prefix,
                t.tenant,
                t.scope,
                _when(t.created),
                _when(t.expires_at),
                _when(t.last_used_at),
                _when(t.revoked_at),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@token.command("revoke")
@click.argument("name_or_prefix")
def token_revoke(name_or_prefix: str) -> None:
    """Revoke tokens by name or prefix; they stop working at once."""
    count = _tokens().revoke(name_or_prefix)
    if count == 0:
        raise click.ClickException(f"No live token named or prefixed {name_or_prefix!r}.")
    click.echo(f"Revoked {count} token(s).")
