"""WSGI entry point for gunicorn and other servers: ``scimserver.wsgi:app``."""

from scimserver.app import create_app

app = create_app()
