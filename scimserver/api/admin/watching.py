"""What happened on a connection: its webhooks' delivery state, with redelivery."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, url_for
from werkzeug.wrappers import Response as BaseResponse

from scimserver.api.admin.pages import page
from scimserver.api.admin.scope import connection
from scimserver.api.context import server


def register(blueprint: Blueprint) -> None:
    base = "/connections/<name>/webhooks"
    blueprint.add_url_rule(base, "webhooks", webhooks, methods=["GET"])
    blueprint.add_url_rule(
        f"{base}/<subscription>/redeliver", "redeliver", redeliver, methods=["POST"]
    )


def webhooks(name: str) -> BaseResponse:
    found = connection(name)
    states = server().webhooks().states(found.id)
    return page("webhooks.html", connection=found, states=states)


def redeliver(name: str, subscription: str) -> BaseResponse:
    found = connection(name)
    if all(s.id != subscription for s in server().webhooks().listing(found.id)):
        abort(404)
    server().webhooks().redeliver(subscription)
    return redirect(url_for("admin.webhooks", name=found.name), 303)
