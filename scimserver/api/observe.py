"""One place sees every answered request: it counts it, logs it and records its activity.

The line carries who asked (tenant id and token name: the token is the IdP connection),
what (method, route template, path without the query), the outcome and the time taken,
and the IdP-dialect rewrites applied. Never a header value, a body or a query string,
so no secret, password or filter value reaches the log. 5xx lines are ERROR with the
unexpected error's traceback; everything else is INFO.

The activity record (for the admin console) adds what the request was about: the
resource type and id (from the route, or the Location of a created resource), the
userName or displayName the service noted, and the SCIM error's scimType and detail.
It is kept for authenticated SCIM requests, and only queued here: a thread writes it
(service/recorder.py). A SCIM or API request refused with 401 is recorded without a
tenant, with the client's address, its User-Agent's product token and the public prefix
of the token it tried (``scim_<prefix>_``) — never more of the Authorization header — so
that an admin of every connection sees a wrongly pasted token.
"""

from __future__ import annotations

import logging
import re
import time

from flask import Flask, Response, g, request

from scimserver.api.context import request_id
from scimserver.api.metrics import RequestMetrics, Seen
from scimserver.errors import Busy, ScimError
from scimserver.service.observed import (
    collect_ignored,
    collect_normalisations,
    collect_subjects,
)
from scimserver.service.recorder import Activity, ActivityRecorder

log = logging.getLogger("scimserver.request")
ANONYMOUS = "anonymous"
UNMATCHED = "unmatched"
SCIM_PREFIX = "/scim/v2/"
BULK_ENDPOINT = "scim.bulk"
PROBES = frozenset({"/healthz", "/readyz"})
"""Probed every few seconds by orchestrators: a healthy answer is counted, not logged."""
API_PREFIX = "/api/v1/"
_TOKEN_PREFIX = re.compile(r"\s*bearer\s+scim_([0-9a-f]{12})_", re.IGNORECASE)
"""The public prefix of a token of this server's shape (service/tokens.py)."""


def observe_requests(
    app: Flask, metrics: RequestMetrics, recorder: ActivityRecorder | None = None
) -> None:
    """Time, count and log every request ``app`` answers; record SCIM ones in ``recorder``."""

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        g.normalisations = collect_normalisations()
        if recorder is not None:
            g.subjects = collect_subjects()
            g.ignored = collect_ignored()

    @app.after_request
    def _finish(response: Response) -> Response:
        seen = _seen(response.status_code)
        metrics.observe(seen)
        agent = _user_agent()
        _log(seen, agent)
        tenant = seen.tenant
        if recorder is None:
            return response
        if tenant is not None and request.path.startswith(SCIM_PREFIX):
            recorder.record(_activity(seen, tenant, agent, response))
        elif seen.status == 401 and request.path.startswith((SCIM_PREFIX, API_PREFIX)):
            recorder.record(_refused(seen, agent))
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
        busy=isinstance(g.get("scim_error"), Busy),
    )


def _user_agent() -> str | None:
    """The User-Agent's product token (before the first "/"): never the whole header."""
    return request.headers.get("User-Agent", "").split("/", 1)[0].strip()[:64] or None


def _log(seen: Seen, user_agent: str | None) -> None:
    if seen.route in PROBES and seen.status < 400:
        return
    duration_ms = round(seen.seconds * 1000, 2)
    fields = {
        "request_id": request_id(),
        "tenant": seen.tenant,
        "client": seen.client,
        "user_agent": user_agent,
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


def _activity(seen: Seen, tenant_id: int, user_agent: str | None, response: Response) -> Activity:
    route = request.view_args or {}
    resource_type = route.get("type_id")
    resource_id = route.get("resource_id")
    if resource_type is not None and resource_id is None and seen.status == 201:
        resource_id = (response.headers.get("Location") or "").rsplit("/", 1)[-1] or None
    subjects = g.get("subjects")
    # A Bulk request names many resources: its record names none of them.
    subject = subjects[-1] if subjects and request.endpoint != BULK_ENDPOINT else None
    error: ScimError | None = g.get("scim_error")
    return Activity(
        tenant_id=tenant_id,
        at=time.time(),
        request_id=request_id(),
        client=seen.client,
        method=seen.method,
        path=seen.path,
        status=seen.status,
        duration_ms=round(seen.seconds * 1000, 2),
        resource_type=resource_type,
        resource_id=resource_id,
        subject=subject,
        user_agent=user_agent,
        normalisations=tuple(seen.normalisations),
        scim_type=error.scim_type if error is not None else None,
        detail=error.detail if error is not None else g.get("activity_detail"),
        ignored=tuple(g.get("ignored", ())),
    )


def _refused(seen: Seen, user_agent: str | None) -> Activity:
    """A 401's record: no tenant, and of the token only its public prefix."""
    tried = _TOKEN_PREFIX.match(request.headers.get("Authorization", ""))
    error: ScimError | None = g.get("scim_error")
    return Activity(
        tenant_id=None,
        at=time.time(),
        request_id=request_id(),
        client=ANONYMOUS,
        method=seen.method,
        path=seen.path,
        status=seen.status,
        duration_ms=round(seen.seconds * 1000, 2),
        user_agent=user_agent,
        detail=error.detail if error is not None else None,
        address=request.remote_addr,
        token_prefix=tried.group(1).lower() if tried else None,
    )
