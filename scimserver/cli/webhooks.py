"""``scimserver webhook``: push a tenant's changes to HTTP receivers."""

from __future__ import annotations

import click

from scimserver.cli.common import server, table, tenant_id
from scimserver.scim.targets import Reach
from scimserver.service.server import Server
from scimserver.service.tokens import parse_duration
from scimserver.service.webhooks import (
    SubscriptionInfo,
    WebhookError,
    WebhookService,
    parse_events,
)

LIST_COLUMNS = (
    "ID",
    "TENANT",
    "FORMAT",
    "EVENTS",
    "STATE",
    "LAG",
    "ATTEMPTS",
    "DEAD_LETTERS",
    "FLAGS",
    "URL",
)


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
@click.option(
    "--insecure-http", is_flag=True, help="Allow a plain http URL: changes travel in clear."
)
@click.option(
    "--allow-private-network",
    is_flag=True,
    help="Allow loopback, private, link-local and metadata addresses (checked at each send).",
)
def webhook_add(
    url: str,
    tenant: str | None,
    fmt: str,
    events: str | None,
    full: bool,
    insecure_http: bool,
    allow_private_network: bool,
) -> None:
    """Subscribe URL to changes committed from now on (no backfill); print its secret once.

    URL must be https and reach a public address, unless the flags allow otherwise.
    """
    built, service = _webhooks()
    reach = Reach(insecure_http, allow_private_network)
    try:
        info, secret = service.add(
            url, tenant_id(built, tenant), fmt, parse_events(events), full, reach
        )
    except WebhookError as exc:
        raise click.UsageError(str(exc)) from exc
    kinds = ",".join(info.events) if info.events else "all events"
    click.echo(
        f"Webhook {info.id} for tenant {info.tenant!r}: {info.format}, {kinds}, to {info.url}"
    )
    _warn(info)
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
    """List webhooks (never their secrets): lag, failures of the current change, dead
    letters, and what each was allowed (insecure-http, private-network)."""
    built, service = _webhooks()
    tenant_filter = tenant_id(built, tenant) if tenant else None
    states = service.states(tenant_filter)
    rows = [LIST_COLUMNS]
    for state in states:
        info = state.info
        rows.append(
            (
                info.id,
                info.tenant,
                info.format,
                ",".join(info.events) if info.events else "*",
                info.state,
                str(state.lag),
                f"{info.attempts}/{info.max_attempts}",
                str(len(state.dead_letters)),
                ",".join(flag.upper() for flag in info.flags) or "-",
                info.url,
            )
        )
    table(rows)
    for state in states:
        _warn(state.info)


def _warn(info: SubscriptionInfo) -> None:
    """Say, on stderr, what a subscription was allowed beyond the defaults."""
    if info.insecure_http:
        click.secho(
            f"WARNING: webhook {info.id} is insecure-http: changes go to it in clear text.",
            err=True,
            fg="red",
        )
    if info.private_network:
        click.secho(
            f"WARNING: webhook {info.id} may reach the private network "
            "(loopback, private, link-local, metadata addresses).",
            err=True,
            fg="yellow",
        )


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
