"""``scimserver webhook``: push a tenant's changes to HTTP receivers."""

from __future__ import annotations

import click

from scimserver.cli.common import server, table, tenant_id
from scimserver.service.server import Server
from scimserver.service.tokens import parse_duration
from scimserver.service.webhooks import WebhookError, WebhookService, parse_events


@click.group()
def webhook() -> None:
    """Push a tenant's changes to HTTP receivers (run `scimserver worker` to deliver)."""


def _webhooks() -> tuple[Server, WebhookService]:
    built = server()
    return built, built.webhooks()


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
    built, service = _webhooks()
    try:
        info, secret = service.add(url, tenant_id(built, tenant), fmt, parse_events(events), full)
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
    built, service = _webhooks()
    tenant_filter = tenant_id(built, tenant) if tenant else None
    rows = [("ID", "TENANT", "FORMAT", "EVENTS", "CURSOR", "FAILURES", "STATE", "URL")]
    for info in service.listing(tenant_filter):
        events = ",".join(info.events) if info.events else "*"
        failures = f"{info.attempts}/{info.max_attempts}"
        cells = (info.id, info.tenant, info.format, events, str(info.cursor), failures)
        rows.append((*cells, info.state, info.url))
    table(rows)


@webhook.command("remove")
@click.argument("subscription_id")
def webhook_remove(subscription_id: str) -> None:
    """Delete a webhook with its attempts and dead letters."""
    _webhooks()[1].remove(subscription_id)
    click.echo(f"Removed webhook {subscription_id}.")


@webhook.command("test")
@click.argument("subscription_id")
def webhook_test(subscription_id: str) -> None:
    """Send a webhook.test event now and print the receiver's answer."""
    result = _webhooks()[1].test(subscription_id)
    click.echo(f"Receiver answered {result.summary} in {result.duration_ms} ms.")
    if result.verdict.value != "delivered":
        raise click.ClickException("The test event was not accepted.")


@webhook.command("redeliver")
@click.argument("subscription_id")
def webhook_redeliver(subscription_id: str) -> None:
    """Queue the parked changes again; they go out, in order, before newer ones."""
    count = _webhooks()[1].redeliver(subscription_id)
    click.echo(f"Queued {count} parked change(s) for redelivery.")


@webhook.command("rotate-secret")
@click.argument("subscription_id")
@click.option(
    "--overlap", default="24h", show_default=True, help="How long the old secret still signs."
)
def webhook_rotate(subscription_id: str, overlap: str) -> None:
    """Issue a new signing secret; both sign every message until the overlap ends."""
    secret = _webhooks()[1].rotate(subscription_id, parse_duration(overlap))
    click.echo(f"New signing secret for webhook {subscription_id} (shown once):")
    click.echo("")
    click.echo(f"    {secret}")
    click.echo("")
    click.echo(f"The previous secret also signs for {overlap}.")
