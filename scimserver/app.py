"""The WSGI factory: the Flask app around the parts ``scimserver.wiring`` built."""

from __future__ import annotations

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry

from scimserver.api.admin import build_admin_blueprint
from scimserver.api.asynchronous import build_async_blueprint
from scimserver.api.changes import build_changes_blueprint
from scimserver.api.context import ACTIVITY, EXTENSION, request_id
from scimserver.api.errors import register_error_handlers
from scimserver.api.events import build_events_blueprint
from scimserver.api.guards import Guards
from scimserver.api.identities import build_identities_blueprint
from scimserver.api.json import ScimJSONProvider, negotiate
from scimserver.api.logs import configure_logging
from scimserver.api.metrics import (
    RequestMetrics,
    StoreCollector,
    build_metrics_blueprint,
    scrape_registry,
)
from scimserver.api.observe import observe_requests
from scimserver.api.paced import Paced
from scimserver.api.proxies import TrustedProxies, parse_networks
from scimserver.api.routes import build_blueprint
from scimserver.config import Settings
from scimserver.pacing import Pacing
from scimserver.service.server import Server
from scimserver.wiring import build


def create_app(settings: Settings | None = None) -> Flask:
    """Build the WSGI app from ``settings`` (default: the ``SCIMSERVER_*`` environment)."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.json_provider_class = ScimJSONProvider
    app.json = ScimJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    server = build(settings)
    app.extensions[EXTENSION] = server
    register_error_handlers(app)
    # One plain connection per request, for the token check and the reads that follow.
    app.before_request(server.db.hold)
    app.teardown_request(lambda _error: server.db.release())
    # The asynchronous requests' runner: started in each process by its first request.
    app.before_request(server.jobs.ensure_running)
    _observe(app, server)
    app.register_blueprint(build_blueprint(server.registry), url_prefix="/scim/v2")
    app.register_blueprint(build_changes_blueprint(), url_prefix="/api/v1")
    app.register_blueprint(build_identities_blueprint(), url_prefix="/api/v1")
    app.register_blueprint(build_events_blueprint(), url_prefix="/api/v1")
    app.register_blueprint(build_async_blueprint(), url_prefix="/api/v1")
    app.register_blueprint(build_admin_blueprint(), url_prefix="/admin")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers. No I/O, so a slow database never restarts it."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> tuple[dict[str, str], int]:
        """Readiness: the database answers and its schema is at the newest migration."""
        if server.ready():
            return {"status": "ready"}, 200
        return {"status": "unavailable", "detail": "database unreachable or not migrated"}, 503

    endpoints = [rt.endpoint for rt in server.registry.resource_types]
    endpoints += ["/Bulk", "/ServiceProviderConfig", "/ResourceTypes", "/Schemas", "/.search"]
    guarded = Guards(app.wsgi_app, endpoints)
    proxies = parse_networks(settings.trusted_proxies)
    paced = Paced(TrustedProxies(guarded, proxies), Pacing(settings.active_requests))
    app.wsgi_app = paced  # type: ignore[method-assign]

    @app.after_request
    def _negotiate(response: Response) -> Response:
        response.headers["X-Request-Id"] = request_id()
        return negotiate(request, response)

    return app


def _observe(app: Flask, server: Server) -> None:
    """Request metrics, log lines and activity records, and ``GET /metrics`` (outside
    /scim/v2, no SCIM token)."""
    settings = server.settings
    own = CollectorRegistry()
    app.extensions[ACTIVITY] = server.recorder
    observe_requests(app, RequestMetrics(own, settings.metrics_tenant_labels), server.recorder)
    store = StoreCollector(server.stats, settings.metrics_tenant_labels)
    registry = scrape_registry(own, store)
    app.register_blueprint(build_metrics_blueprint(registry, settings.metrics_token))
