"""The floor: the least a durable SCIM server on this stack must do, and nothing more.

``bench/floor.py`` serves it with the same gunicorn settings as ``scimserver serve`` and
sends it the same requests, to tell the stack's cost from ours. Per request it does only
what no SCIM server can skip:

- looks the bearer token up by its SHA-256 (one SELECT on the request's connection);
- parses the JSON body with orjson, keeps the document as one JSON column, enforces
  ``userName`` uniqueness with a unique index, and commits (SQLite in WAL mode with
  ``synchronous=NORMAL`` and our writer queue, or PostgreSQL autocommit reads);
- answers with the stored document, ``meta`` and the ``Location``/``ETag`` headers.

It skips what scimserver does on top: schema validation and normalisation, filters other
than ``userName eq``, the value index that serves every other filter, groups, the change
log and its events, request activity, rate limits, metrics and structured logs.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Flask, Response, request
from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from scimserver.store.db import Checkpointer, WriterQueue, make_engine

_URL = os.environ.get("FLOOR_DATABASE_URL", "sqlite:////tmp/scimserver-floor.db")
_TOKEN = os.environ.get("FLOOR_TOKEN", "floor-token")
_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
_LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
_USER_NAME_EQ = re.compile(r'^userName eq "((?:[^"\\]|\\.)*)"$', re.IGNORECASE)

metadata = MetaData()
tokens = Table(
    "floor_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
)
users = Table(
    "floor_users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_name_key", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created", String(40), nullable=False),
    Column("last_modified", String(40), nullable=False),
    Column("data", Text, nullable=False),
    UniqueConstraint("user_name_key"),
)

_TOKEN_BY_HASH = select(tokens.c.id).where(tokens.c.secret_hash == bindparam("secret_hash"))
_ADD = insert(users)
_BY_ID = select(users).where(users.c.id == bindparam("b_id"))
_BY_NAME = select(users).where(users.c.user_name_key == bindparam("b_key"))
_REWRITE = (
    update(users)
    .where(users.c.id == bindparam("b_id"), users.c.version == bindparam("b_version"))
    .values(
        user_name_key=bindparam("b_key"),
        data=bindparam("b_data"),
        version=bindparam("b_version") + 1,
    )
)


class _Store:
    """Transactions as scimserver takes them: queued immediate writers on SQLite,
    autocommit reads on PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        sqlite = self.engine.dialect.name == "sqlite"
        self.reading = (
            self.engine if sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self.writing = self.engine.execution_options(scim_write=True)
        path = self.engine.url.database if sqlite else None
        self.queue = WriterQueue(path) if path else None
        self.checkpointer = Checkpointer(path, self.queue) if path else None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reading.begin() as connection:
            yield connection

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.queue.turn() if self.queue else nullcontext(), self.writing.begin() as c:
            yield c
        if self.checkpointer is not None:
            self.checkpointer.nudge()


_database = _Store(_URL)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _prepare() -> None:
    metadata.create_all(_database.engine)
    with _database.engine.begin() as connection:
        found = connection.execute(_TOKEN_BY_HASH, {"secret_hash": _hash(_TOKEN)}).first()
        if found is None:
            connection.execute(insert(tokens), {"secret_hash": _hash(_TOKEN)})


_prepare()
app = Flask(__name__)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, mimetype="application/scim+json")


def _error(status: int, detail: str, scim_type: str | None = None) -> Response:
    body: dict[str, Any] = {"schemas": [_ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return _json(body, status)


def _authorised(connection: Connection) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return False
    found = connection.execute(_TOKEN_BY_HASH, {"secret_hash": _hash(header[7:])}).first()
    return found is not None


def _document(row: Any) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(row.data)
    doc["id"] = row.id
    doc["meta"] = {
        "resourceType": "User",
        "created": row.created,
        "lastModified": row.last_modified,
        "location": f"{request.host_url}scim/v2/Users/{row.id}",
        "version": f'W/"{row.version}"',
    }
    return doc


def _answer(row: Any, status: int = 200) -> Response:
    doc = _document(row)
    headers = {"ETag": doc["meta"]["version"], "Location": doc["meta"]["location"]}
    return _json(doc, status, headers)


def _body() -> dict[str, Any] | None:
    try:
        body = orjson.loads(request.get_data())
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@app.get("/healthz")
def healthz() -> Response:
    return _json({"status": "ok"})


@app.post("/scim/v2/Users")
def create() -> Response:
    body = _body()
    if body is None or not isinstance(body.get("userName"), str):
        return _error(400, "userName is required", "invalidValue")
    body.pop("id", None)
    body.pop("meta", None)
    now = _now()
    row = {
        "id": str(uuid.uuid4()),
        "user_name_key": body["userName"].lower(),
        "version": 1,
        "created": now,
        "last_modified": now,
        "data": orjson.dumps(body).decode(),
    }
    try:
        with _database.write() as connection:
            if not _authorised(connection):
                return _error(401, "Bearer token required")
            connection.execute(_ADD, row)
    except IntegrityError:
        return _error(409, "userName is taken", "uniqueness")
    return _answer(_Row(row), 201)


class _Row:
    """A written row, answered without reading it back."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


@app.get("/scim/v2/Users")
def search() -> Response:
    with _database.read() as connection:
        if not _authorised(connection):
            return _error(401, "Bearer token required")
        match = _USER_NAME_EQ.match(request.args.get("filter", ""))
        if match is None:
            return _error(400, "only userName eq is served here", "invalidFilter")
        key = match.group(1).replace('\\"', '"').lower()
        rows = connection.execute(_BY_NAME, {"b_key": key}).all()
    resources = [_document(row) for row in rows]
    listed = {"schemas": [_LIST], "totalResults": len(resources), "Resources": resources}
    return _json(listed | {"startIndex": 1, "itemsPerPage": len(resources)})


@app.route("/scim/v2/Users/<user_id>", methods=["PATCH", "PUT"])
def change(user_id: str) -> Response:
    body = _body()
    if body is None:
        return _error(400, "a JSON object is required", "invalidSyntax")
    with _database.write() as connection:
        if not _authorised(connection):
            return _error(401, "Bearer token required")
        row = connection.execute(_BY_ID, {"b_id": user_id}).first()
        if row is None:
            return _error(404, "no such user")
        doc = _replaced(body) if request.method == "PUT" else _patched(orjson.loads(row.data), body)
        data = orjson.dumps(doc).decode()
        key = str(doc.get("userName", row.user_name_key)).lower()
        values = {"b_id": user_id, "b_version": row.version, "b_key": key, "b_data": data}
        connection.execute(_REWRITE, values)
    changed = dict(row._mapping, data=data, version=row.version + 1)
    return _answer(_Row(changed | {"last_modified": _now()}))


def _replaced(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("id", "meta")}


def _patched(doc: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    for op in body.get("Operations", []):
        value = op.get("value")
        path = op.get("path")
        if path is None and isinstance(value, dict):
            for key, item in value.items():
                _merge(doc, key, item)
        elif isinstance(path, str):
            head, _, tail = path.partition(".")
            if tail:
                doc.setdefault(head, {})[tail] = value
            else:
                doc[head] = value
    return doc


def _merge(doc: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict) and isinstance(doc.get(key), dict):
        doc[key].update(value)
    else:
        doc[key] = value
