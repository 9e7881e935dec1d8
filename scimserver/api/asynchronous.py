"""``Prefer: respond-async`` (RFC 9967 §2.5.1.1, RFC 7240) on SCIM writes and Bulk, and
the status of an accepted request, ``GET /api/v1/async/<txn>``.

An accepted request answers ``202`` with no body, ``Set-Txn``, ``Preference-Applied:
respond-async`` and a ``Location`` where its completion is read, with a bearer token
of the same tenant: ``{"txn", "status": "pending"}`` (202) until it has run, then
``{"txn", "status": "done", "sets": {jti: SET}}`` (200), the ``misc:asyncresp`` SETs
addressed to that URL. ``Prefer: wait=N`` answers as usual when the request ends
within N seconds. Without ``respond-async`` nothing changes. See docs/events.md.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, request

from scimserver.api import params
from scimserver.api.auth import authenticate_any_scope
from scimserver.api.context import base_url, principal, request_id, server
from scimserver.api.json import read_json
from scimserver.schema import ResourceType
from scimserver.scim.asyncresp import RESPOND_ASYNC, parse_prefer, status_uri
from scimserver.scim.projection import Projection
from scimserver.service.jobs import BULK, Accepted, Ran, Submitted
from scimserver.service.resources import Written

View = Callable[..., Response]
Answer = Callable[[Any], Response]
"""Builds the synchronous answer from what the use case returned."""


def respond_async(method: str, answer: Answer) -> Callable[[View], View]:
    """Decorate a resource write view: with ``Prefer: respond-async`` the request is
    handed to the asynchronous service; ``answer`` gives the usual response when it
    ends within ``Prefer: wait``."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def run(type_id: str, resource_id: str | None = None) -> Response:
            preferences = parse_prefer(request.headers.getlist("Prefer"))
            if not preferences.respond_async:
                if resource_id is None:
                    return view(type_id)
                return view(type_id, resource_id)
            resource_type = server().registry.resource_type(type_id)
            assert resource_type is not None  # the route exists for it
            body = None if method == "DELETE" else read_json(request)
            if_match = request.headers.get("If-Match")
            submitted = Submitted(method, resource_type, resource_id, body, if_match)
            projection = _projection(method, resource_type)
            return deferred(submitted, preferences.wait, projection, answer)

        return run

    return decorate


def deferred(
    submitted: Submitted, wait: int | None, projection: Projection | None, answer: Answer
) -> Response:
    """Hand ``submitted`` to the asynchronous service: 202, or ``answer`` of its result
    when it ran within ``wait`` seconds (its error raised, as a synchronous one is)."""
    who = principal()
    found = server().jobs.submit(
        who.tenant_id, who.name, request_id(), base_url(), submitted, wait, projection
    )
    if isinstance(found, Accepted):
        return _accepted(found.txn)
    return _answer(found, answer)


def bulk_deferred(body: Any, answer: Answer) -> Response | None:
    """``POST /Bulk`` with ``Prefer: respond-async`` handed on (None: answer it as usual)."""
    preferences = parse_prefer(request.headers.getlist("Prefer"))
    if not preferences.respond_async:
        return None
    return deferred(Submitted(BULK, None, None, body), preferences.wait, None, answer)


def _answer(ran: Ran, answer: Answer) -> Response:
    if ran.error is not None:
        raise ran.error
    return answer(ran.value)


def _accepted(txn: str) -> Response:
    response = Response(status=202)
    response.headers["Set-Txn"] = txn
    response.headers["Preference-Applied"] = RESPOND_ASYNC
    response.headers["Location"] = status_uri(base_url(), txn)
    return response


def _projection(method: str, resource_type: ResourceType) -> Projection | None:
    """The projection the synchronous view would use (a group's PATCH: none, no body)."""
    if method == "DELETE":
        return None
    if method == "PATCH" and _has_members(resource_type) and not params.wants_body(request.args):
        return None
    return params.projection(resource_type, request.args)


def _has_members(resource_type: ResourceType) -> bool:
    who = principal()
    return server().resources(resource_type, who.tenant_id, base_url()).has_members


def written_answer(status_code: int, respond: Callable[[Written, int], Response]) -> Answer:
    """An ``answer`` for resource writes: ``respond(written, status_code)``; after a
    delete (nothing written) 204."""

    def answer(value: Any) -> Response:
        if not isinstance(value, Written):
            return Response(status=204)
        return respond(value, status_code)

    return answer


def status(txn: str) -> Response:
    """``GET /api/v1/async/<txn>``: a bearer token of the request's tenant (any scope)."""
    who = authenticate_any_scope()
    found = server().jobs.status(who.tenant_id, txn)
    if not found.done:
        response = _json({"txn": txn, "status": "pending"}, 202)
        response.headers["Retry-After"] = "1"
        return response
    return _json({"txn": txn, "status": "done", "sets": found.sets}, 200)


def _json(body: Any, status_code: int) -> Response:
    return current_app.response_class(
        json.dumps(body), status=status_code, mimetype="application/json"
    )


def build_async_blueprint() -> Blueprint:
    bp = Blueprint("async", __name__)
    bp.add_url_rule("/async/<txn>", "status", status, methods=["GET"])
    return bp
