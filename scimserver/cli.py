"""The ``scimserver`` command: serve, migrate, and manage bearer tokens."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from datetime import datetime

import click
from flask.cli import FlaskGroup

from scimserver.app import create_app
from scimserver.config import Settings
from scimserver.scim.changes import MEMBER_ADDED, MEMBER_REMOVED
from scimserver.service.changes import change_json
from scimserver.service.server import Server
from scimserver.service.tokens import (
    TenantService,
    TokenError,
    TokenInfo,
    TokenService,
    parse_duration,
)
from scimserver.service.webhooks import WebhookError, WebhookService, parse_events
from scimserver.store import migrate
from scimserver.store.db import Database
from scimserver.store.models import Change


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
    # prometheus-client's multiprocess mode: every worker's samples, fresh for this server.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="scimserver-metrics-")
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
        # Hooks for the metrics directory. No --access-logfile: each request is already
        # one line of the application's JSON log (api/observe.py).
        "--config",
        "python:scimserver.api.gunicorn_conf",
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


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _tenant_id(server: Server, name: str | None) -> int:
    tenant = name or server.settings.default_tenant
    tenant_id = TenantService(server.db).find(tenant)
    if tenant_id is None:
        raise click.ClickException(f"No tenant {tenant!r}.")
    return tenant_id


@main.group()
def webhook() -> None:
    """Push a tenant's changes to HTTP receivers (run `scimserver worker` to deliver)."""


def _webhooks() -> tuple[Server, WebhookService]:
    server = Server.build(_settings())
    return server, server.webhooks()


@webhook.command("add")
@click.argument("url")
@click.option(
    "--tenant", help="Tenant whose changes are sent (default: SCIMSERVER_DEFAULT_TENANT)."
)
@click.option("--format", "fmt", type=click.Choice(["json", "set"]), default="json")
@click.option("--events", help="Comma-separated change types, e.g. user.deactivated,user.deleted.")
@click.option("--full", is_flag=True, help="set format: full-mode SETs (data), not notices.")
def webhook_add(url: str, tenant: str | None, fmt: str, events: str | None, full: bool) -> None:
    """Subscribe URL to changes committed from now on (no backfill); print its secret once."""
    server, service = _webhooks()
    try:
        info, secret = service.add(url, _tenant_id(server, tenant), fmt, parse_events(events), full)
    except WebhookError as exc:
        raise click.UsageError(str(exc)) from exc
    kinds = ",".join(info.events) if info.events else "all events"
    click.echo(f"Webhook {info.id} for tenant {info.tenant!r}: {info.format}, {kinds}, to {url}")
    if fmt == "set":
        click.echo(f"It starts after change seq {info.cursor}. SETs are signed with the")
        click.echo("server's ES256 key: receivers verify them against /api/v1/jwks.json.")
        return
    click.echo(f"It starts after change seq {info.cursor}. Signing secret:")
    click.echo("")
    click.echo(f"    {secret}")
    click.echo("")
    click.echo("It is shown once; give it to the receiver to verify webhook-signature.")


@webhook.command("list")
@click.option("--tenant", help="Only this tenant's webhooks.")
def webhook_list(tenant: str | None) -> None:
    """List webhooks (never their secrets) and how far each has got."""
    server, service = _webhooks()
    tenant_id = _tenant_id(server, tenant) if tenant else None
    rows = [("ID", "TENANT", "FORMAT", "EVENTS", "CURSOR", "FAILURES", "STATE", "URL")]
    for info in service.listing(tenant_id):
        events = ",".join(info.events) if info.events else "*"
        failures = f"{info.attempts}/{info.max_attempts}"
        cells = (info.id, info.tenant, info.format, events, str(info.cursor), failures)
        rows.append((*cells, info.state, info.url))
    _table(rows)


@webhook.command("remove")
@click.argument("subscription_id")
def webhook_remove(subscription_id: str) -> None:
    """Delete a webhook with its attempts and dead letters."""
    try:
        _webhooks()[1].remove(subscription_id)
    except WebhookError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Removed webhook {subscription_id}.")


@webhook.command("test")
@click.argument("subscription_id")
def webhook_test(subscription_id: str) -> None:
    """Send a webhook.test event now and print the receiver's answer."""
    try:
        result = _webhooks()[1].test(subscription_id)
    except WebhookError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Receiver answered {result.summary} in {result.duration_ms} ms.")
    if result.verdict.value != "delivered":
        raise click.ClickException("The test event was not accepted.")


@webhook.command("redeliver")
@click.argument("subscription_id")
def webhook_redeliver(subscription_id: str) -> None:
    """Queue the parked changes again; they go out, in order, before newer ones."""
    try:
        count = _webhooks()[1].redeliver(subscription_id)
    except WebhookError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Queued {count} parked change(s) for redelivery.")


@webhook.command("rotate-secret")
@click.argument("subscription_id")
@click.option(
    "--overlap", default="24h", show_default=True, help="How long the old secret still signs."
)
def webhook_rotate(subscription_id: str, overlap: str) -> None:
    """Issue a new signing secret; both sign every message until the overlap ends."""
    try:
        secret = _webhooks()[1].rotate(subscription_id, parse_duration(overlap))
    except (WebhookError, TokenError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"New signing secret for webhook {subscription_id} (shown once):")
    click.echo("")
    click.echo(f"    {secret}")
    click.echo("")
    click.echo(f"The previous secret also signs for {overlap}.")


@main.command()
def worker() -> None:
    """Deliver webhooks and prune the change log until SIGTERM."""
    settings = _settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = Server.build(settings)
    runner = server.worker()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        runner.run(stop)
    finally:
        runner.close()
        server.db.dispose()


def _detail(change: Change) -> str:
    if change.type in (MEMBER_ADDED, MEMBER_REMOVED):
        group = change.display or change.resource_id
        return f"{change.member_type} {change.member_id} in group {group}"
    return ", ".join(change.attributes or []) or "-"


@main.command()
@click.option("--user", help="userName or id of the user.")
@click.option("--group", help="displayName or id of the group.")
@click.option("--tenant", help="Tenant (default: SCIMSERVER_DEFAULT_TENANT).")
@click.option("--json", "as_json", is_flag=True, help="Print the change records as JSON.")
def audit(user: str | None, group: str | None, tenant: str | None, as_json: bool) -> None:
    """Print a user's or group's history: what changed, when, by which token and request."""
    if (user is None) == (group is None):
        raise click.UsageError("Give exactly one of --user or --group.")
    server = Server.build(_settings())
    resource_type, name = ("User", user) if user is not None else ("Group", group)
    assert name is not None  # one of the two, checked above
    changes = server.audit(_tenant_id(server, tenant)).history(resource_type, name)
    if as_json:
        click.echo(json.dumps([change_json(c) for c in changes], indent=2))
        return
    if not changes:
        raise click.ClickException(f"No history for {resource_type} {name!r}.")
    rows = [("TIME", "TYPE", "CHANGED", "ACTOR", "REQUEST")]
    for c in changes:
        rows.append((_when_exact(c.time), c.type, _detail(c), c.actor, c.request_id or "-"))
    _table(rows)


def _when_exact(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")
