"""``scimserver audit``: a user's or group's history from the change log."""

from __future__ import annotations

import json
from datetime import datetime

import click

from scimserver.cli.common import server, table, tenant_id
from scimserver.scim.changes import MEMBER_ADDED, MEMBER_REMOVED
from scimserver.service.audit import LoggedChange


def _detail(change: LoggedChange) -> str:
    if change.type in (MEMBER_ADDED, MEMBER_REMOVED):
        group = change.display or change.resource_id
        return f"{change.member_type} {change.member_id} in group {group}"
    return ", ".join(change.attributes) or "-"


@click.command()
@click.option("--user", help="userName or id of the user.")
@click.option("--group", help="displayName or id of the group.")
@click.option("--tenant", help="Tenant (default: SCIMSERVER_DEFAULT_TENANT).")
@click.option("--json", "as_json", is_flag=True, help="Print the change records as JSON.")
def audit(user: str | None, group: str | None, tenant: str | None, as_json: bool) -> None:
    """Print a user's or group's history: what changed, when, by which token and request."""
    if (user is None) == (group is None):
        raise click.UsageError("Give exactly one of --user or --group.")
    built = server()
    resource_type, name = ("User", user) if user is not None else ("Group", group)
    assert name is not None  # one of the two, checked above
    changes = built.audit(tenant_id(built, tenant)).history(resource_type, name)
    if as_json:
        click.echo(json.dumps([c.json for c in changes], indent=2))
        return
    if not changes:
        raise click.ClickException(f"No history for {resource_type} {name!r}.")
    rows = [("TIME", "TYPE", "CHANGED", "ACTOR", "REQUEST")]
    for c in changes:
        rows.append((_when_exact(c.time), c.type, _detail(c), c.actor, c.request_id or "-"))
    table(rows)


def _when_exact(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")
