"""JSON in and out: ``application/scim+json`` responses, strict request parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import orjson
from flask import Request, Response, current_app
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge

from scimserver.errors import InvalidSyntax, InvalidValue, PayloadTooLarge, UnsupportedMediaType
from scimserver.service.streamed import Document, Streamed, close_all

SCIM_MEDIA_TYPE = "application/scim+json"


class ScimJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, answering ``application/scim+json`` with UTF-8 as is.

    Encoding is orjson's: several times faster than the standard library's on a page of
    resources, with the same output for the plain dicts, lists and strings we send.
    """

    mimetype = SCIM_MEDIA_TYPE
    ensure_ascii = False
    sort_keys = False
    compact = True

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return encode(obj).decode()


def encode(body: Any) -> bytes:
    """JSON as UTF-8 bytes: orjson, or the json module for what orjson refuses (integers
    beyond 64 bits), so no stored value can make a response fail."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A SCIM JSON response, encoded straight to UTF-8 bytes."""
    response = current_app.response_class(encode(body), status=status, mimetype=SCIM_MEDIA_TYPE)
    response.headers.update(headers or {})
    return response


def document_response(
    document: Document, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A resource's response: built whole, or encoded while its members are read."""
    if isinstance(document, Streamed):
        return _streamed_response(_streamed_pieces(document), [document], status, headers)
    return json_response(document, status, headers)


def list_json_response(body: dict[str, Any]) -> Response:
    """A ListResponse (``Resources`` last); streamed when one of its resources is."""
    resources = body["Resources"]
    streamed = [r for r in resources if isinstance(r, Streamed)]
    if not streamed:
        return json_response(body)
    return _streamed_response(_list_pieces(body), streamed, 200, None)


def _streamed_response(
    pieces: Iterator[bytes], held: list[Streamed], status: int, headers: dict[str, str] | None
) -> Response:
    """A response whose body is ``pieces``: sent as they are made, with no Content-Length.

    The read transactions the documents hold end when the body is done, or when the
    server closes the response early (a client gone, a HEAD request).
    """

    def body() -> Iterator[bytes]:
        try:
            yield from pieces
        finally:
            close_all(held)

    response = current_app.response_class(body(), status=status, mimetype=SCIM_MEDIA_TYPE)
    response.call_on_close(lambda: close_all(held))
    response.headers.update(headers or {})
    return response


def _list_pieces(body: dict[str, Any]) -> Iterator[bytes]:
    *rest, last = body
    assert last == "Resources"
    yield encode({key: body[key] for key in rest})[:-1] + b',"Resources":['
    for index, document in enumerate(body["Resources"]):
        if index:
            yield b","
        if isinstance(document, Streamed):
            yield from _streamed_pieces(document)
        else:
            yield encode(document)
    yield b"]}"


def _streamed_pieces(document: Streamed) -> Iterator[bytes]:
    """The same bytes as ``encode`` of the whole document, one chunk of elements at a time.

    The list and its key appear with its first element, as a document built whole has
    no key for a list left empty. ``head`` is never empty: it starts with ``schemas``.
    """
    yield encode(document.head)[:-1]
    opening = b"," + encode(document.name) + b":["
    for chunk in document.chunks:
        if chunk:
            yield opening + encode(chunk)[1:-1]
            opening = b","
    closing = b"]" if opening == b"," else b""
    yield closing + (b"," + encode(document.tail)[1:] if document.tail else b"}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json(request: Request, max_bytes: int | None = None) -> Any:
    """The request body as JSON, or a SCIM error (415 wrong type, 413, 400 invalidSyntax).

    ``max_bytes`` defaults to the app's ``MAX_CONTENT_LENGTH``.
    """
    mimetype = request.mimetype or ""
    if mimetype and "json" not in mimetype and mimetype != "text/plain":
        raise UnsupportedMediaType(
            f"Content-Type {mimetype} is not supported; send application/scim+json."
        )
    raw = _read_bounded(request, request.max_content_length if max_bytes is None else max_bytes)
    if not raw.strip():
        raise InvalidSyntax("The request body is empty.")
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidSyntax("The request body is not valid JSON.") from exc
    if _NUL_ESCAPE.search(raw):
        try:
            nul = _holds_nul(body)
        except RecursionError as exc:
            raise InvalidSyntax("The request body nests too deeply.") from exc
        if nul:
            raise InvalidValue("A NUL character (\\u0000) is not allowed in a value.")
    return body


_NUL_ESCAPE = re.compile(rb"\\u0000", re.IGNORECASE)
"""A raw NUL byte is not valid JSON; the escape is, and only then is the body walked."""


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _read_bounded(request: Request, limit: int | None) -> bytes:
    """The body, or 413 when it is longer than ``limit``, with or without Content-Length."""
    if limit is None:
        return request.get_data(cache=True)
    too_large = PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    if (request.content_length or 0) > limit:
        raise too_large  # before reading a byte of it
    # A chunked body has no Content-Length, and Werkzeug stops reading it at the limit
    # without an error: read one byte more than allowed, and getting it means too large.
    request.max_content_length = limit + 1
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge as exc:
        raise too_large from exc
    if len(raw) > limit:
        raise too_large
    return raw


def negotiate(request: Request, response: Response) -> Response:
    """Answer plain ``application/json`` to clients that ask for it and not for SCIM's type."""
    if response.mimetype == SCIM_MEDIA_TYPE:
        accept = request.accept_mimetypes
        if accept.quality("application/json") > accept.quality(SCIM_MEDIA_TYPE):
            response.mimetype = "application/json"
    return response
