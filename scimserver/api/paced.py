"""The WSGI layer that runs each request in one of its worker's slots (``scimserver.pacing``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scimserver.pacing import Pacing


class Paced:
    """``app`` run holding a slot of ``pacing``: up to the response's headers and body,
    as the app returns them (a streamed body is sent after, outside the slot)."""

    def __init__(self, app: Any, pacing: Pacing) -> None:
        self.app = app
        self.pacing = pacing

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self.pacing.slot():
            result: Iterable[bytes] = self.app(environ, start_response)
            return result
