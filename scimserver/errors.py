"""SCIM errors, each carrying its HTTP status and RFC 7644 §3.12 ``scimType``.

ScimError
 ├── BadRequest (400)
 │    ├── InvalidFilter, TooMany, Mutability, InvalidSyntax,
 │    ├── InvalidPath, NoTarget, InvalidValue, InvalidVersion, Sensitive,
 │    ├── InvalidCursor, ExpiredCursor, InvalidCount (RFC 9865)
 ├── Unauthorized (401), Forbidden (403), NotFound (404), MethodNotAllowed (405)
 ├── Conflict (409)
 │    └── Uniqueness (409)
 ├── Gone (410)
 ├── PreconditionFailed (412), PayloadTooLarge (413), UnsupportedMediaType (415)
 ├── RateLimited (429)
 │    └── TooManyWaits (429)
 ├── NotImplementedFeature (501)
 └── Unavailable (503)
      └── Busy (503, with Retry-After)
"""

from __future__ import annotations

from typing import Any, ClassVar

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """Base class: an error a SCIM client sees as a SCIM error body."""

    status: int = 500
    scim_type: str | None = None
    default_detail: ClassVar[str] = "Internal server error."
    retry_after: int | None = None
    """Seconds a client should wait before trying again (``Retry-After``), if it may."""

    def __init__(self, detail: str | None = None, *, status: int | None = None) -> None:
        self.detail = detail or self.default_detail
        if status is not None:
            self.status = status
        super().__init__(self.detail)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schemas": [ERROR_URN],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


class BadRequest(ScimError):
    status = 400
    default_detail = "The request is not valid."


class InvalidFilter(BadRequest):
    scim_type = "invalidFilter"
    default_detail = "The filter syntax is invalid or names an unknown attribute."


class TooMany(BadRequest):
    scim_type = "tooMany"
    default_detail = "The query would return too many results."


class Mutability(BadRequest):
    scim_type = "mutability"
    default_detail = "The request tried to change an attribute that cannot be changed."


class InvalidSyntax(BadRequest):
    scim_type = "invalidSyntax"
    default_detail = "The request body is not valid SCIM JSON."


class InvalidPath(BadRequest):
    scim_type = "invalidPath"
    default_detail = "The PATCH path is invalid."


class NoTarget(BadRequest):
    scim_type = "noTarget"
    default_detail = "The PATCH path did not yield an attribute or value to operate on."


class InvalidValue(BadRequest):
    scim_type = "invalidValue"
    default_detail = "A required value is missing or a value is not compatible."


class InvalidVersion(BadRequest):
    scim_type = "invalidVers"
    default_detail = "The SCIM protocol version is not supported."


class Sensitive(BadRequest):
    scim_type = "sensitive"
    default_detail = "Sensitive information may not be sent in the request URI."


class InvalidCursor(BadRequest):
    scim_type = "invalidCursor"
    default_detail = "The cursor is invalid: start with an empty cursor, then use nextCursor."


class ExpiredCursor(BadRequest):
    scim_type = "expiredCursor"
    default_detail = "The cursor has expired: start again with an empty cursor."


class InvalidCount(BadRequest):
    scim_type = "invalidCount"
    default_detail = "count must be a positive integer."


class Unauthorized(ScimError):
    status = 401
    default_detail = "Authorization failure: a valid bearer token is required."


class Forbidden(ScimError):
    status = 403
    default_detail = "This token may not perform the operation."


class NotFound(ScimError):
    status = 404
    default_detail = "Resource not found."


class Gone(ScimError):
    """A change-feed cursor older than the retained log: re-read, then follow again."""

    status = 410
    default_detail = "The requested changes are no longer retained."


class MethodNotAllowed(ScimError):
    status = 405
    default_detail = "The method is not allowed on this endpoint."


class Conflict(ScimError):
    status = 409
    default_detail = "The request conflicts with the current state of the resource."


class Uniqueness(Conflict):
    scim_type = "uniqueness"
    default_detail = "A value that must be unique is already in use."


class PreconditionFailed(ScimError):
    status = 412
    default_detail = "The resource changed: the If-Match version does not match."


class PayloadTooLarge(ScimError):
    status = 413
    scim_type = "tooLarge"
    default_detail = "The request body is too large."


class RateLimited(ScimError):
    """Too many requests for this token in the current window; ``retry_after`` seconds."""

    status = 429
    default_detail = "Too many requests for this token; retry later."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TooManyWaits(RateLimited):
    """A long poll over the waits a token (or a server process) may hold at once."""

    default_detail = "Too many waiting requests; retry later."


class UnsupportedMediaType(ScimError):
    status = 415
    default_detail = "The request body must be application/scim+json or application/json."


class NotImplementedFeature(ScimError):
    status = 501
    default_detail = "The operation is not implemented."


class Unavailable(ScimError):
    """The database could not be reached (or dropped the connection); retry later."""

    status = 503
    default_detail = "The service is temporarily unavailable; retry."


class Busy(Unavailable):
    """Every database connection of this process stayed in use past the wait allowed."""

    retry_after = 1
    default_detail = "The server is busy; retry in a second."
