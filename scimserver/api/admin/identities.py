"""A connection's users and groups: search, paging, a user with its history, a group's
members paged from the memberships table."""

from __future__ import annotations

from flask import Blueprint, request
from werkzeug.wrappers import Response as BaseResponse

from scimserver.api.admin.display import attribute_rows, history_row
from scimserver.api.admin.pages import page
from scimserver.api.admin.scope import Connection, connection
from scimserver.api.context import base_url, server
from scimserver.errors import ScimError
from scimserver.schema.model import ResourceType
from scimserver.scim.projection import parse_projection
from scimserver.service.reading import ListQuery, ListResult, ResourceReader

PAGE_SIZE = 25
MEMBERS_PAGE_SIZE = 50
MAX_PAGE = 100_000


def register(blueprint: Blueprint) -> None:
    base = "/connections/<name>"
    blueprint.add_url_rule(f"{base}/users", "users", users, methods=["GET"])
    blueprint.add_url_rule(f"{base}/groups", "groups", groups, methods=["GET"])
    blueprint.add_url_rule(f"{base}/users/<resource_id>", "user", user, methods=["GET"])
    blueprint.add_url_rule(f"{base}/groups/<resource_id>", "group", group, methods=["GET"])


def _type(name: str) -> ResourceType:
    found = server().registry.resource_type(name)
    assert found is not None  # User and Group are core types: always registered
    return found


def _reader(found: Connection, type_name: str) -> ResourceReader:
    return server().reader(_type(type_name), found.id, base_url())


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return min(max(int(raw), 1), MAX_PAGE) if raw.isdigit() else 1


def _listing(name: str, type_name: str, template: str) -> BaseResponse:
    found = connection(name)
    words = request.args.get("q", "").strip()
    scim_filter = request.args.get("filter", "").strip()
    number = _page_number()
    query = ListQuery(
        filter=scim_filter or None,
        text=words or None,
        start_index=(number - 1) * PAGE_SIZE + 1,
        count=PAGE_SIZE,
    )
    error = None
    try:
        result = _reader(found, type_name).search(query)
    except ScimError as exc:
        error, result = exc.detail, ListResult(0, 1, [])
    more = number * PAGE_SIZE < result.total
    return page(
        template,
        400 if error else 200,
        connection=found,
        result=result,
        q=words,
        filter=scim_filter,
        number=number,
        more=more,
        error=error,
    )


def users(name: str) -> BaseResponse:
    return _listing(name, "User", "users.html")


def groups(name: str) -> BaseResponse:
    return _listing(name, "Group", "groups.html")


def user(name: str, resource_id: str) -> BaseResponse:
    found = connection(name)
    document = _reader(found, "User").get(resource_id)
    assert isinstance(document, dict)  # users have no member list to stream
    changes = server().audit(found.id).of_resource(resource_id)
    return page(
        "user.html",
        connection=found,
        user=document,
        attributes=attribute_rows(document),
        history=[history_row(change, resource_id) for change in reversed(changes)],
    )


def group(name: str, resource_id: str) -> BaseResponse:
    found = connection(name)
    reader = _reader(found, "Group")
    document = reader.get(resource_id, parse_projection(_type("Group"), None, "members"))
    assert isinstance(document, dict)  # members excluded: never streamed
    number = _page_number()
    offset = (number - 1) * MEMBERS_PAGE_SIZE
    members = reader.members(resource_id, offset, MEMBERS_PAGE_SIZE + 1)
    return page(
        "group.html",
        connection=found,
        group=document,
        attributes=attribute_rows(document),
        members=members[:MEMBERS_PAGE_SIZE],
        number=number,
        more=len(members) > MEMBERS_PAGE_SIZE,
    )
