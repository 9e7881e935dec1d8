"""``scimserver access``: which app groups, roles and admins a tenant's IdP groups make."""

from __future__ import annotations

import click

from scimserver.cli.common import echo_json, server, table, tenant_id
from scimserver.service.access import AccessService

TENANT = click.option("--tenant", help="The tenant (default: the default tenant).")


def _service(tenant: str | None) -> AccessService:
    built = server()
    return built.access(tenant_id(built, tenant), "cli")


@click.group()
def access() -> None:
    """Map IdP groups to app groups and roles, and say where isAdmin comes from."""


@access.command("map")
@click.argument("app_group")
@click.option("--idp-group", required=True, help="The IdP group's id, externalId or displayName.")
@TENANT
@click.option("--priority", type=int, help="Lower wins in single-role mode (default: last).")
def access_map(app_group: str, idp_group: str, tenant: str | None, priority: int | None) -> None:
    """Feed APP_GROUP from one IdP group (replacing the one it was fed from)."""
    mapping = _service(tenant).map(app_group, idp_group, priority)
    click.echo(
        f"Mapped {mapping.app_group!r} to IdP group {mapping.group_id} "
        f"(priority {mapping.priority})."
    )


@access.command("unmap")
@click.argument("app_group")
@TENANT
def access_unmap(app_group: str, tenant: str | None) -> None:
    """Stop feeding APP_GROUP from any IdP group."""
    _service(tenant).unmap(app_group)
    click.echo(f"Unmapped {app_group!r}.")


@access.command("admin")
@click.option("--attribute", help="A boolean user attribute, e.g. urn:…:User:isAdmin.")
@click.option("--idp-group", help="An IdP group whose members are admins.")
@TENANT
def access_admin(attribute: str | None, idp_group: str | None, tenant: str | None) -> None:
    """Where isAdmin comes from: true → admin, false → member, absent → unchanged."""
    if (attribute is None) == (idp_group is None):
        raise click.UsageError("Give exactly one of --attribute and --idp-group ('' clears it).")
    _service(tenant).admin(attribute, idp_group)
    source = f"attribute {attribute!r}" if attribute is not None else f"IdP group {idp_group!r}"
    click.echo(f"isAdmin now comes from {source}." if (attribute or idp_group) else "Cleared.")


@access.command("default-role")
@click.argument("name")
@TENANT
def access_default_role(name: str, tenant: str | None) -> None:
    """The role of people in no mapped group ('' for none)."""
    _service(tenant).default_role(name or None)
    click.echo(f"Default role: {name!r}." if name else "No default role.")


@access.command("mode")
@click.argument("mode", type=click.Choice(["single", "multi"]))
@TENANT
def access_mode(mode: str, tenant: str | None) -> None:
    """single: one role, the mapped app group of highest priority; multi: all of them."""
    _service(tenant).mode(mode)
    click.echo(f"Mode: {mode}.")


@access.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the rules as JSON.")
@TENANT
def access_list(as_json: bool, tenant: str | None) -> None:
    """The tenant's mappings, mode, default role and admin source."""
    rules = _service(tenant).rules()
    if as_json:
        echo_json(rules.to_json())
        return
    rows = [("APP GROUP", "PRIORITY", "IDP GROUP", "IDP GROUP ID")]
    for m in rules.mappings:
        rows.append((m.app_group, str(m.priority), m.group_name or "(deleted)", m.group_id))
    table(rows)
    click.echo(f"mode: {rules.mode}; default role: {rules.default_role or '-'}")
    admin_group = rules.admin_group_name or rules.admin_group_id or "-"
    click.echo(f"isAdmin from attribute: {rules.admin_attribute or '-'}; IdP group: {admin_group}")
    if rules.pending_jobs:
        click.echo(f"settling: {rules.pending_jobs} edit(s) (the worker announces them)")
