"""Long-running commands (serve, worker) and schema migrations."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading

import click

from scimserver.api.logs import configure_logging
from scimserver.cli.common import (
    database_line,
    print_secret,
    refuse_missing,
    server,
    settings,
)
from scimserver.wiring import build, secrets_note, upgrade_database

log = logging.getLogger("scimserver.worker")


def check_bind(bind: str) -> None:
    """Fail with one line when ``host:port`` cannot be listened on (e.g. already in use)."""
    host, _, port = bind.rpartition(":")
    if bind.startswith(("unix:", "fd://")) or not port.isdigit():
        return  # gunicorn's other address forms: it reports their problems itself
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 -- gunicorn's meaning of ":port"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.create_server((host, int(port)), family=family).close()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(
                f"{bind} is already in use — pick another with --bind"
            ) from None
        raise click.ClickException(f"cannot listen on {bind}: {exc.strerror}") from None


KEEP_ALIVE_SECONDS = 75


@click.command()
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
    config = settings()
    bind = bind or config.bind
    workers = workers or config.workers
    check_bind(bind)
    built = server(create=True, secrets=True)
    if initial_token and not built.tokens.listing():
        info, secret = built.tokens.create("initial", config.default_tenant, "write")
        print_secret(info, secret)
    built.db.dispose()
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
        str(config.threads),
        # Longer than the idle timeout of the clients' connection pools (httpx 5 s, load
        # balancers 60 s): a client that reuses a connection gunicorn has just closed
        # (its default is 2 s) gets a reset for a request it may not retry. An idle
        # connection takes no thread (gthread polls it), only one of 1,000 slots.
        "--keep-alive",
        str(KEEP_ALIVE_SECONDS),
        # Hooks for the metrics directory. No --access-logfile: each request is already
        # one line of the application's JSON log (api/observe.py).
        "--config",
        "python:scimserver.api.gunicorn_conf",
        "--forwarded-allow-ips",
        "",  # X-Forwarded-* are applied in the app, from SCIMSERVER_TRUSTED_PROXIES only
        # gunicorn's control socket sits at one path per user (~/.gunicorn/gunicorn.ctl):
        # two servers on a host would take it from each other, and nothing here uses it.
        "--no-control-socket",
        "scimserver.wsgi:app",
    ]
    sys.stdout.flush()
    os.execv(gunicorn, args)  # noqa: S606 -- replace this process with gunicorn, no shell


@click.command()
def worker() -> None:
    """Deliver webhooks and prune the change log until SIGTERM."""
    config = settings()
    configure_logging(config.log_level, config.log_format)
    # Log lines, not plain ones: a worker's stderr goes to a log pipeline.
    log.info(database_line(config))
    refuse_missing(config, create=False)
    log.log(logging.INFO if config.secret_key else logging.WARNING, secrets_note(config))
    built = build(config)
    try:
        runner = built.worker()
    except ValueError as exc:
        built.db.dispose()
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        runner.run(stop)
    finally:
        runner.close()
        built.db.dispose()


@click.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (creating a SQLite database that does not exist)."""
    config = settings()
    click.echo(database_line(config), err=True)
    upgrade_database(config)
    click.echo("Database is up to date.")
