"""``scimserver tenant``: the isolated spaces tokens act in."""

from __future__ import annotations

import click

from scimserver.cli.common import echo_json, server, table, when


@click.group()
def tenant() -> None:
    """Create, list, rename and delete tenants."""


@tenant.command("create")
@click.argument("name")
def tenant_create(name: str) -> None:
    """Create an empty tenant."""
    server().tenants().create(name)
    click.echo(f"Created tenant {name!r}.")


@tenant.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the tenants as JSON.")
def tenant_list(as_json: bool) -> None:
    """List tenants with their live tokens, users and groups counted."""
    tenants = server().tenants().listing()
    if as_json:
        echo_json([t._asdict() for t in tenants])
        return
    rows = [("NAME", "CREATED", "TOKENS", "USERS", "GROUPS")]
    for t in tenants:
        rows.append((t.name, when(t.created), str(t.tokens), str(t.users), str(t.groups)))
    table(rows)


@tenant.command("rename")
@click.argument("old")
@click.argument("new")
def tenant_rename(old: str, new: str) -> None:
    """Rename a tenant; its tokens, users and groups stay with it."""
    server().tenants().rename(old, new)
    click.echo(f"Renamed tenant {old!r} to {new!r}.")


@tenant.command("delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also delete its users and groups (or the default).")
def tenant_delete(name: str, force: bool) -> None:
    """Delete a tenant and its tokens; one holding users or groups needs --force."""
    resources = server().tenants().delete(name, force)
    click.echo(f"Deleted tenant {name!r}, its tokens and {resources} user(s)/group(s).")
