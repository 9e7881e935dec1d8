"""WSGI entry point for gunicorn and other servers: ``scimserver.wsgi:app``."""

import gc
import logging
import os
import sys

from scimserver.app import create_app
from scimserver.service.server import Server
from scimserver.store.location import describe
from scimserver.wiring import secrets_note

app = create_app()
_server: Server = app.extensions["scimserver"]
_log = logging.getLogger("scimserver")
_log.info("Worker %d serves %s", os.getpid(), describe(_server.settings.database_url))
if not _server.settings.secret_key:
    _log.warning(secrets_note(_server.settings))
if "gunicorn" in sys.modules and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _log.warning(
        "/metrics counts this worker's requests only: run gunicorn with "
        "-c python:scimserver.api.gunicorn_conf to sum every worker's (docs/operations.md)"
    )

# What the app is built from (schemas, models, compiled statements) lives as long as the
# process: frozen, the cyclic collector stops walking it. A full collection of a worker
# then takes well under a millisecond, not ~60 ms (one every few thousand requests).
gc.collect()
gc.freeze()
