"""The ceiling: the smallest Flask JSON app, served by the same gunicorn settings as scimserver.

Whatever the bench client measures against this app is the most the stack (client,
gunicorn sync workers, Flask, JSON) can deliver on this machine; every scimserver
throughput figure is quoted as a percentage of it.
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)

_BODY = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
    "totalResults": 1,
    "Resources": [{"id": "2819c223-7f76-453a-919d-413861904646", "userName": "bjensen"}],
}


@app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PATCH", "PUT"])
@app.route("/<path:path>", methods=["GET", "POST", "PATCH", "PUT"])
def anything(path: str) -> dict[str, object]:
    return _BODY
