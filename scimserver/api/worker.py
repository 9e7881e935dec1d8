"""gunicorn's threaded worker, answering its own protocol errors as SCIM errors.

gunicorn refuses some requests before the app sees them — a request line longer than
``limit_request_line`` (414), too many or too large headers (431), a malformed request
line or method (400) — with an HTML page. SCIM clients expect a SCIM error body, so in
this worker those pages are SCIM JSON (``urn:ietf:params:scim:api:messages:2.0:Error``)
with the same status. ``scimserver serve`` runs this worker.
"""

from __future__ import annotations

import socket
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

from scimserver.api.balance import Share
from scimserver.api.guards import scim_error_body

_HINTS = {
    414: "The request URI is too long. Send long filters with POST /.search instead.",
    431: "The request's header fields are too large.",
}


def write_scim_error(sock: socket.socket, status: int, reason: str, message: str) -> None:
    """Replaces ``gunicorn.util.write_error``: the same status, a SCIM JSON body."""
    detail = _HINTS.get(status) or message or reason
    body = scim_error_body(status, detail, "invalidSyntax" if status == 400 else None)
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/scim+json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


RECHECK_SECONDS = 0.05
"""How often a worker that holds more than its share of connections looks again."""


class ScimWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn's threaded worker that answers protocol errors in SCIM JSON and, given a
    slot by the master (``api.gunicorn_conf``), takes no more than its share of
    connections (``api.balance``)."""

    share: Share | None = None

    def init_process(self) -> Any:
        # gunicorn's handle_error calls util.write_error by module lookup: in this worker
        # process, that function writes SCIM JSON instead of HTML.
        util.write_error = write_scim_error
        return super().init_process()

    def set_accept_enabled(self, enabled: bool) -> None:
        fair = self.share is None or self.share.may_accept(self.nr_conns)
        super().set_accept_enabled(enabled and fair)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if self.share is not None:
            self.share.hold(self.nr_conns)
            self.set_accept_enabled(self.nr_conns < self.worker_connections)
            if not self._accepting:  # another worker's count may fall meanwhile
                timeout = min(timeout, RECHECK_SECONDS)
        super().wait_for_and_dispatch_events(timeout)
