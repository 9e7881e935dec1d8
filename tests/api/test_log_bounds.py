"""Whatever a client sends, a log line stays small: long fields are cut and marked, and a
poll's refused SETs are one line with a count."""

from __future__ import annotations

import json
import logging

import pytest

from scimserver.api.logs import FIELD_LIMIT, JsonFormatter, TextFormatter
from scimserver.scim.poll import MAX_SET_ERRS
from tests.api.test_sets import poll, start
from tests.conftest import ScimClient

LINE_BOUND = 16 * 1024
"""Bytes of the longest line any record below may make (a few fields of FIELD_LIMIT)."""
HUGE = 900 * 1024


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every captured record, as the JSON and the text formats write it."""
    formatters: list[logging.Formatter] = [JsonFormatter(), TextFormatter()]
    return [f.format(record) for record in caplog.records for f in formatters]


def test_a_huge_attribute_makes_no_huge_log_line(
    scim: ScimClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bodies = [
        {"userName": "huge-name@example.com", "x" * HUGE: "an attribute no schema declares"},
        {"userName": "huge-value@example.com", "description": "d" * HUGE},
    ]
    for body in bodies:
        assert scim.post("/Users", {"schemas": [USER], **body}).status_code == 201
    written = lines(caplog)
    assert written and max(len(line.encode()) for line in written) < LINE_BOUND
    warnings = [json.loads(line) for line in written if '"ignored"' in line]
    huge = next(w for w in warnings if "xxxx" in w["message"])  # the huge attribute name
    marker = f"…[truncated {HUGE - (FIELD_LIMIT - huge['message'].index('xxxx'))} chars]"
    assert huge["message"].endswith(marker)
    assert huge["ignored"].startswith('["xxxx') and huge["ignored"].endswith(" chars]")


def test_refused_sets_are_one_bounded_line_with_a_count(
    scim: ScimClient, caplog: pytest.LogCaptureFixture
) -> None:
    start(scim)
    errors = {f"jti-{n}": {"err": "e" * 300, "description": "d" * 400} for n in range(MAX_SET_ERRS)}
    language = {"Content-Language": "en"}
    with caplog.at_level(logging.INFO, logger="scimserver.service.poll"):
        body = {"returnImmediately": True, "setErrs": errors}
        assert poll(scim, body, **language).status_code == 200
    [record] = [r for r in caplog.records if r.name == "scimserver.service.poll"]
    assert record.levelno == logging.WARNING and vars(record)["refused"] == MAX_SET_ERRS
    message = record.getMessage()
    assert f"refused {MAX_SET_ERRS} SET(s): jti-0 (" in message
    assert message.endswith(f" and {MAX_SET_ERRS - 3} more") and len(message) < 2000
    errors["one-too-many"] = {"err": "e", "description": ""}
    over = poll(scim, {"returnImmediately": True, "setErrs": errors}, **language)
    assert over.status_code == 400 and over.get_json()["err"] == "invalid_request"
    assert f"{MAX_SET_ERRS} SETs at most" in over.get_json()["description"]


USER = "urn:ietf:params:scim:schemas:core:2.0:User"
