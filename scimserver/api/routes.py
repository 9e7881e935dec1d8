"""The SCIM HTTP surface: one generic set of routes per resource type, and discovery."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, request

from scimserver.api import params
from scimserver.api.asynchronous import respond_async, written_answer
from scimserver.api.auth import authenticate
from scimserver.api.bulk import register_bulk
from scimserver.api.context import base_url, principal, request_id, server
from scimserver.api.json import document_response, json_response, list_json_response, read_json
from scimserver.errors import InvalidSyntax, NotFound
from scimserver.schema import Registry, ResourceType
from scimserver.scim.versions import etag, names_etag
from scimserver.service.discovery import list_response
from scimserver.service.reading import ListResult, ResourceReader
from scimserver.service.resources import ResourceService, Written
from scimserver.service.search import search_all
from scimserver.service.streamed import Streamed, close_all


def _resource_type(type_id: str) -> ResourceType:
    found = server().registry.resource_type(type_id)
    if found is None:
        raise NotFound()
    return found


def _service(type_id: str) -> ResourceService:
    who = principal()
    return server().resources(
        _resource_type(type_id), who.tenant_id, base_url(), who.name, request_id()
    )


def _reader(type_id: str) -> ResourceReader:
    return server().reader(_resource_type(type_id), principal().tenant_id, base_url())


def _written(written: Written, status: int) -> Response:
    headers = {"ETag": etag(written.version), "Location": written.location}
    if written.resource is None:
        response = Response(status=204)
        response.headers.update(headers)
        return response
    return json_response(written.resource, status, headers)


def _list_response(result: ListResult) -> Response:
    cursors = (result.next_cursor, result.previous_cursor)
    return list_json_response(
        list_response(result.resources, result.total, result.start_index, cursors)
    )


def list_resources(type_id: str) -> Response:
    rt = _resource_type(type_id)
    return _list_response(_reader(type_id).search(params.list_query(rt, request.args)))


def search_resources(type_id: str) -> Response:
    rt = _resource_type(type_id)
    return _list_response(_reader(type_id).search(params.list_query(rt, _search_body(), body=True)))


@respond_async("POST", written_answer(201, _written))
def create_resource(type_id: str) -> Response:
    rt = _resource_type(type_id)
    written = _service(type_id).create(read_json(request), params.projection(rt, request.args))
    return _written(written, 201)


def get_resource(type_id: str, resource_id: str) -> Response:
    rt = _resource_type(type_id)
    resource = _reader(type_id).get(resource_id, params.projection(rt, request.args))
    meta = resource.meta if isinstance(resource, Streamed) else resource.get("meta")
    version = meta["version"] if meta else None
    headers = {"ETag": version} if version else {}
    if version and names_etag(request.headers.get("If-None-Match"), version):
        close_all([resource])
        response = Response(status=304)
        response.headers.update(headers)
        return response
    return document_response(resource, 200, headers)


@respond_async("PUT", written_answer(200, _written))
def replace_resource(type_id: str, resource_id: str) -> Response:
    rt = _resource_type(type_id)
    written = _service(type_id).replace(
        resource_id,
        read_json(request),
        request.headers.get("If-Match"),
        params.projection(rt, request.args),
    )
    return _written(written, 200)


@respond_async("PATCH", written_answer(200, _written))
def patch_resource(type_id: str, resource_id: str) -> Response:
    rt = _resource_type(type_id)
    service = _service(type_id)
    # Groups answer 204 unless attributes are asked for: re-sending a large
    # membership after every change would make each PATCH cost O(group size).
    silent = service.has_members and not params.wants_body(request.args)
    projection = None if silent else params.projection(rt, request.args)
    written = service.patch(
        resource_id, read_json(request), request.headers.get("If-Match"), projection
    )
    return _written(written, 200)


@respond_async("DELETE", written_answer(204, _written))
def delete_resource(type_id: str, resource_id: str) -> Response:
    _service(type_id).delete(resource_id, request.headers.get("If-Match"))
    return Response(status=204)


def _root_search(source: Mapping[str, Any], body: bool) -> Response:
    readers = [_reader(rt.id) for rt in server().registry.resource_types]
    return _list_response(
        search_all(readers, lambda reader: params.list_query(reader.type, source, body))
    )


def root_list() -> Response:
    return _root_search(request.args, body=False)


def root_search() -> Response:
    return _root_search(_search_body(), body=True)


def _search_body() -> dict[str, Any]:
    body = read_json(request)
    if not isinstance(body, dict):
        raise InvalidSyntax("A search request must be a JSON object.")
    return body


def _discovery_routes(bp: Blueprint) -> None:
    def discovery() -> Any:
        return server().discovery(base_url(), principal().tenant_id)

    @bp.get("/ServiceProviderConfig")
    def service_provider_config() -> Response:
        return json_response(discovery().service_provider_config())

    @bp.get("/ResourceTypes")
    def resource_types() -> Response:
        found = discovery().resource_types()
        return json_response(list_response(found, len(found)))

    @bp.get("/ResourceTypes/<name>")
    def resource_type(name: str) -> Response:
        return json_response(discovery().resource_type(name))

    @bp.get("/Schemas")
    def schemas() -> Response:
        found = discovery().schemas()
        return json_response(list_response(found, len(found)))

    @bp.get("/Schemas/<path:urn>")
    def schema(urn: str) -> Response:
        return json_response(discovery().schema(urn))


def build_blueprint(registry: Registry) -> Blueprint:
    """The ``/scim/v2`` blueprint, with routes for every resource type in ``registry``."""
    bp = Blueprint("scim", __name__)
    bp.before_request(authenticate)
    _discovery_routes(bp)
    register_bulk(bp)
    bp.add_url_rule("/", "root_list", root_list, methods=["GET"])
    bp.add_url_rule("/.search", "root_search", root_search, methods=["POST"])
    for rt in registry.resource_types:
        defaults = {"type_id": rt.id}
        collection, item = rt.endpoint, f"{rt.endpoint}/<resource_id>"
        name = rt.id.lower()
        bp.add_url_rule(
            collection,
            f"{name}_list",
            list_resources,
            methods=["GET"],
            defaults=defaults,
            strict_slashes=False,
        )
        bp.add_url_rule(
            collection,
            f"{name}_create",
            create_resource,
            methods=["POST"],
            defaults=defaults,
            strict_slashes=False,
        )
        bp.add_url_rule(
            f"{rt.endpoint}/.search",
            f"{name}_search",
            search_resources,
            methods=["POST"],
            defaults=defaults,
        )
        for method, view in (
            ("GET", get_resource),
            ("PUT", replace_resource),
            ("PATCH", patch_resource),
            ("DELETE", delete_resource),
        ):
            bp.add_url_rule(
                item,
                f"{name}_{method.lower()}",
                view,
                methods=[method],
                defaults=defaults,
                strict_slashes=False,
            )
    return bp
