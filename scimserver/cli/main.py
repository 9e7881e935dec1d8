"""The command group: version, verbosity, and one place that turns refusals and database
failures into a line of advice.

Nothing runs at import or for ``--help``/``--version``: each command builds the server
(and so connects and migrates) only when it runs.
"""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy.exc import ArgumentError, DBAPIError

from scimserver.api.logs import configure_logging
from scimserver.cli import (
    access,
    admins,
    audit,
    keys,
    secrets,
    serving,
    tenants,
    tokens,
    webhooks,
)
from scimserver.cli.common import failure, settings
from scimserver.cli.failures import bad_url, explain
from scimserver.service.access import AccessError
from scimserver.service.admins import AdminError
from scimserver.service.tokens import TokenError
from scimserver.service.webhooks import WebhookError
from scimserver.store.sealed import SecretKeyError

OWN_LOGGING = frozenset({"serve", "worker"})
"""Commands that set up logging themselves (gunicorn's, the worker's log level)."""


class Main(click.Group):
    """Runs a command; a refusal or a database failure ends it with one line, exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TokenError as exc:
            raise failure(exc) from None
        except (WebhookError, AdminError, SecretKeyError, AccessError) as exc:
            raise click.ClickException(str(exc)) from None
        except DBAPIError as exc:
            raise click.ClickException(explain(exc, settings().database_url)) from None
        except ArgumentError:
            raise click.ClickException(bad_url(settings().database_url)) from None


@click.group(cls=Main, invoke_without_command=True)
@click.version_option(package_name="scimserver", prog_name="scimserver")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, migrations included.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """scimserver: a SCIM 2.0 provisioning server."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())  # and exit 0: a bare `scimserver` is a question, not an error
        return
    if verbose or ctx.invoked_subcommand not in OWN_LOGGING:
        try:
            configure_logging("INFO" if verbose else "WARNING", settings().log_format)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None


for command in (
    serving.serve,
    serving.worker,
    serving.db,
    tenants.tenant,
    tokens.token,
    webhooks.webhook,
    keys.keys,
    audit.audit,
    admins.admin,
    secrets.secrets,
    access.access,
):
    main.add_command(command)
