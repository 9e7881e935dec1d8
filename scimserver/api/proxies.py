"""Behind a TLS-terminating proxy: ``X-Forwarded-*`` honoured from trusted proxies only.

Anyone who can reach the server directly could send ``X-Forwarded-Host: evil.example``
and have it echoed into ``Location`` and ``meta.location``, so the headers count only
when the connecting peer is one of ``SCIMSERVER_TRUSTED_PROXIES`` (addresses or
networks; none by default). Setting ``SCIMSERVER_BASE_URL`` makes them moot.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

from scimserver.api.guards import StartResponse, WSGIApp

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """``10.0.0.0/8, 192.168.1.10`` as networks; a ValueError names a bad entry."""
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


class TrustedProxies:
    """Applies one hop of ``X-Forwarded-For/Proto/Host/Port/Prefix`` from trusted peers."""

    def __init__(self, app: WSGIApp, networks: Iterable[Network]) -> None:
        self.app = app
        self.networks = tuple(networks)
        self.forwarded = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        if self.networks and self._trusted(environ.get("REMOTE_ADDR", "")):
            return self.forwarded(environ, start_response)
        return self.app(environ, start_response)

    def _trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.networks)
