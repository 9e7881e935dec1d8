"""One place sees every answered request: it counts it and writes its log line.

The line carries who asked (tenant id and token name: the token is the IdP connection),
what (method, route template, path without the query), the outcome and the time taken,
and the IdP-dialect rewrites applied. Never a header value, a body or a query string,
so no secret, password or filter value reaches the log. 5xx lines are ERROR with the
unexpected error's traceback; everything else is INFO.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request

from scimserver.api.context import request_id
from scimserver.api.metrics import RequestMetrics, Seen
from scimserver.service.observed import collect_normalisations

log = logging.getLogger("scimserver.request")
ANONYMOUS = "anonymous"
UNMATCHED = "unmatched"


def observe_requests(app: Flask, metrics: RequestMetrics) -> None:
    """Time, count and log every request ``app`` answers."""

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        g.normalisations = collect_normalisations()

    @app.after_request
    def _finish(response: Response) -> Response:
        seen = _seen(response.status_code)
        metrics.observe(seen)
        _log(seen)
        return response


def _seen(status: int) -> Seen:
    who = g.get("principal")
    rule = request.url_rule
    return Seen(
        method=request.method,
        route=rule.rule if rule is not None else UNMATCHED,
        path=request.path,
        status=status,
        seconds=time.perf_counter() - g.get("started", time.perf_counter()),
        client=(who.name or ANONYMOUS) if who is not None else ANONYMOUS,
        tenant=who.tenant_id if who is not None else None,
        normalisations=tuple(g.get("normalisations", ())),
        error=g.get("unexpected_error"),
    )


def _log(seen: Seen) -> None:
    duration_ms = round(seen.seconds * 1000, 2)
    fields = {
        "request_id": request_id(),
        "tenant": seen.tenant,
        "client": seen.client,
        "user_agent": request.headers.get("User-Agent", "").split("/", 1)[0].strip()[:64] or None,
        "method": seen.method,
        "route": seen.route,
        "path": seen.path,
        "status": seen.status,
        "duration_ms": duration_ms,
        "normalisations": list(seen.normalisations),
    }
    level = logging.ERROR if seen.status >= 500 else logging.INFO
    message = "%s %s %s %.1f ms [%s]"
    args = (seen.method, seen.path, seen.status, duration_ms, fields["request_id"])
    log.log(level, message, *args, exc_info=seen.error, extra=fields)
