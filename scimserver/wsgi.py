"""WSGI entry point for gunicorn and other servers: ``scimserver.wsgi:app``."""

import gc

from scimserver.app import create_app

app = create_app()

# What the app is built from (schemas, models, compiled statements) lives as long as the
# process: frozen, the cyclic collector stops walking it. A full collection of a worker
# then takes well under a millisecond, not ~60 ms (one every few thousand requests).
gc.collect()
gc.freeze()
