"""What happened on a connection: its recent SCIM requests, and its webhooks' delivery
state with redelivery."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from scimserver.api.admin.pages import page
from scimserver.api.admin.scope import connection
from scimserver.api.context import server
from scimserver.service.activity import InvalidActivityQuery, RequestView

STATUS_CHOICES = (
    ("", "All"),
    ("2xx", "2xx"),
    ("4xx", "4xx"),
    ("5xx", "5xx"),
    ("errors", "Errors (4xx and 5xx)"),
)
ACTIVITY_PAGE = 50


def register(blueprint: Blueprint) -> None:
    blueprint.add_url_rule("/connections/<name>/activity", "activity", activity, methods=["GET"])
    base = "/connections/<name>/webhooks"
    blueprint.add_url_rule(base, "webhooks", webhooks, methods=["GET"])
    blueprint.add_url_rule(
        f"{base}/<subscription>/redeliver", "redeliver", redeliver, methods=["POST"]
    )


def activity(name: str) -> BaseResponse:
    found = connection(name)
    status = request.args.get("status", "")
    user = request.args.get("user", "").strip()
    raw_before = request.args.get("before", "")
    before = int(raw_before) if raw_before.isdigit() else None
    error, requests = None, list[RequestView]()
    try:
        requests = (
            server()
            .activity()
            .recent(
                found.id,
                status=status or None,
                user=user or None,
                before=before,
                limit=ACTIVITY_PAGE,
            )
        )
    except InvalidActivityQuery as exc:
        error = str(exc)
    return page(
        "activity.html",
        400 if error else 200,
        connection=found,
        requests=requests,
        status=status,
        user=user,
        choices=STATUS_CHOICES,
        older=_older(status, user, requests),
        error=error,
    )


def _older(status: str, user: str, shown: list[RequestView]) -> str | None:
    """The query string of the next (older) page, when this one was full."""
    if len(shown) < ACTIVITY_PAGE:
        return None
    return urlencode({"status": status, "user": user, "before": shown[-1].id})


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
