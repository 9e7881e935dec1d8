"""``scimserver admin``: console admins, their passwords and the tenants they are held to."""

from __future__ import annotations

import sys

import click

from scimserver.cli.common import server, table, when
from scimserver.service.admins import AdminError, AdminInfo, check_password


@click.group()
def admin() -> None:
    """Create, list and delete admin console accounts; set their passwords."""


def _password(from_stdin: bool) -> str:
    """One line of standard input, or a hidden prompt asked twice; checked before use."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, default="", show_default=False)
        again = click.prompt("Repeat password", hide_input=True, default="", show_default=False)
        if password != again:
            raise click.ClickException("The two passwords differ; nothing was changed.")
    try:
        check_password(password)
    except AdminError as exc:
        raise click.ClickException(str(exc)) from None
    return password


STDIN_HELP = "Read the password from the first line of standard input (no prompt)."


@admin.command("create")
@click.argument("name")
@click.option("--tenant", "tenants", multiple=True, help="Hold the admin to this tenant.")
@click.option("--password-stdin", is_flag=True, help=STDIN_HELP)
def admin_create(name: str, tenants: tuple[str, ...], password_stdin: bool) -> None:
    """Create an admin; with --tenant (repeatable) it sees only those tenants."""
    built = server()
    info = built.admins.create(name, _password(password_stdin), tenants)
    scope = ", ".join(info.tenants) if info.restricted else "every tenant"
    click.echo(f"Created admin {info.name!r} ({scope}).")


@admin.command("list")
def admin_list() -> None:
    """List admins with their tenants and last sign-in."""
    rows = [(a.name, _scope(a), when(a.last_sign_in_at)) for a in server().admins.listing()]
    table([("NAME", "TENANTS", "LAST SIGN-IN"), *rows])


def _scope(info: AdminInfo) -> str:
    if not info.restricted:
        return "(all)"
    return ", ".join(info.tenants) or "(none: its tenants were deleted)"


@admin.command("delete")
@click.argument("name")
def admin_delete(name: str) -> None:
    """Delete an admin; its sessions end at once."""
    server().admins.delete(name)
    click.echo(f"Deleted admin {name!r}.")


@admin.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help=STDIN_HELP)
def admin_password(name: str, password_stdin: bool) -> None:
    """Set an admin's password; its sessions end."""
    built = server()
    built.admins.set_password(name, _password(password_stdin))
    click.echo(f"Password of admin {name!r} set; its sessions ended.")
