"""``scimserver token``: issue, list, rotate and revoke bearer tokens."""

from __future__ import annotations

import dataclasses

import click

from scimserver.cli.common import echo_json, print_secret, server, table, when
from scimserver.service.tokens import (
    DEFAULT_OVERLAP,
    TokenError,
    TokenInfo,
    UnknownTenant,
    parse_overlap,
)

TENANT_HELP = "Tenant the token acts in (default: SCIMSERVER_DEFAULT_TENANT)."


@click.group()
def token() -> None:
    """Issue, list, rotate and revoke bearer tokens."""


@token.command("create")
@click.option("--name", required=True, help="What the token is for, e.g. onelogin.")
@click.option("--scope", type=click.Choice(["write", "read"]), default="write", show_default=True)
@click.option("--expires-in", help="Lifetime such as 90d, 12h or 1y (default: never).")
@click.option("--tenant", help=TENANT_HELP)
@click.option("--create-tenant", is_flag=True, help="Create the tenant if it does not exist.")
def token_create(
    name: str, scope: str, expires_in: str | None, tenant: str | None, create_tenant: bool
) -> None:
    """Create a token and print its secret once."""
    built = server()
    try:
        info, secret = built.tokens.create(
            name,
            tenant or built.settings.default_tenant,
            scope,
            expires_in,
            create_tenant=create_tenant,
        )
    except UnknownTenant as exc:
        raise click.ClickException(
            f"no tenant {exc.name!r} — create it with `scimserver tenant create {exc.name}`, "
            "or pass --create-tenant"
        ) from None
    except TokenError as exc:
        raise click.UsageError(str(exc)) from None
    print_secret(info, secret)


def _row(t: TokenInfo) -> tuple[str, ...]:
    rotating = f"old secret until {when(t.previous_expires_at)}" if t.previous_expires_at else ""
    cells = (t.name, t.prefix, t.tenant, t.scope, when(t.created), when(t.expires_at))
    return (*cells, when(t.last_used_at), when(t.revoked_at), rotating)


@token.command("list")
@click.option("--tenant", help="Only this tenant's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as JSON.")
def token_list(tenant: str | None, as_json: bool) -> None:
    """List tokens (never their secrets)."""
    tokens = server().tokens.listing(tenant)
    if as_json:
        echo_json([dataclasses.asdict(t) for t in tokens])
        return
    header = ("NAME", "PREFIX", "TENANT", "SCOPE", "CREATED", "EXPIRES", "LAST USED", "REVOKED")
    table([(*header, "ROTATION"), *(_row(t) for t in tokens)])


@token.command("revoke")
@click.argument("name_or_prefix")
@click.option("--tenant", help="Tenant whose token NAME is meant (a prefix needs none).")
def token_revoke(name_or_prefix: str, tenant: str | None) -> None:
    """Revoke one token (both secrets while it rotates); it stops working at once."""
    built = server()
    info = built.tokens.revoke(name_or_prefix, tenant or built.settings.default_tenant)
    click.echo(f"Revoked token {info.name!r} of tenant {info.tenant!r} (prefix {info.prefix}).")


@token.command("rotate")
@click.argument("name")
@click.option("--tenant", help=TENANT_HELP)
@click.option(
    "--overlap",
    default=DEFAULT_OVERLAP,
    show_default=True,
    help="How long the old secret keeps working (0: it stops at once).",
)
def token_rotate(name: str, tenant: str | None, overlap: str) -> None:
    """Issue a new secret for a token; the old one keeps working for the overlap."""
    built = server()
    info, secret = built.tokens.rotate(
        name, tenant or built.settings.default_tenant, parse_overlap(overlap)
    )
    print_secret(info, secret)
    if info.previous_expires_at:
        click.echo(f"The previous secret keeps working until {when(info.previous_expires_at)}.")
    else:
        click.echo("The previous secret no longer works.")
