"""``scimserver keys``: each tenant's SET signing keys, and their rotation."""

from __future__ import annotations

import click

from scimserver.cli.common import server, table, tenant_id, when
from scimserver.scim.versions import now
from scimserver.service.tokens import parse_duration


@click.group()
def keys() -> None:
    """List and rotate the keys that sign each tenant's Security Event Tokens."""


@keys.command("list")
@click.option("--tenant", help="The tenant (default: SCIMSERVER_DEFAULT_TENANT).")
def keys_list(tenant: str | None) -> None:
    """The tenant's published keys: the newest signs, older ones until they retire."""
    built = server()
    found = built.keys.listing(tenant_id(built, tenant))
    rows = [("KID", "CREATED", "RETIRES")]
    rows += [(k.kid, when(k.created), when(k.retired_at)) for k in found]
    table(rows)


@keys.command("rotate")
@click.option("--tenant", help="Only this tenant (default: every tenant).")
@click.option(
    "--overlap",
    default="7d",
    show_default=True,
    help="How long the old keys stay published beside the new one (e.g. 7d, 12h).",
)
def keys_rotate(tenant: str | None, overlap: str) -> None:
    """Give tenants a new signing key; the old ones stay in the JWKS until they retire."""
    built = server()
    retire_at = now() + parse_duration(overlap)
    names = {tenant: tenant_id(built, tenant)} if tenant else built.tenants().ids()
    for name, tid in sorted(names.items()):
        rotation = built.keys.rotate(tid, retire_at)
        old = ", ".join(rotation.retiring) or "none"
        click.echo(
            f"Tenant {name!r}: signs with {rotation.kid}; retiring {old} at {when(retire_at)}."
        )
