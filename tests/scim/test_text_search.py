"""The console's search box: plain words as a filter AST, never as filter text."""

from __future__ import annotations

import pytest

from scimserver.errors import InvalidFilter
from scimserver.schema.registry import default_schema_dir, load_registry
from scimserver.scim.filter import matches, text_search, unparse

REGISTRY = load_registry((default_schema_dir(),))
USER = REGISTRY.resource_type("User")
GROUP = REGISTRY.resource_type("Group")


def user(**data: object) -> dict[str, object]:
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], **data}


def test_words_match_user_name_display_name_or_an_email_case_insensitively() -> None:
    assert USER is not None
    node = text_search("JENS", USER)
    assert unparse(node) == (
        '(userName co "JENS" or displayName co "JENS") or emails.value co "JENS"'
    )
    assert matches(node, user(userName="bjensen"))
    assert matches(node, user(userName="x", displayName="Barbara Jensen"))
    assert matches(node, user(userName="x", emails=[{"value": "b.jensen@example.com"}]))
    assert not matches(node, user(userName="x", nickName="jens"))


def test_quotes_and_filter_keywords_are_only_data() -> None:
    assert USER is not None
    tricky = '" or userName pr or "'
    node = text_search(tricky, USER)
    assert not matches(node, user(userName="anyone"))
    assert matches(node, user(userName=f"a{tricky}b"))


def test_groups_search_their_display_name() -> None:
    assert GROUP is not None
    node = text_search("ops", GROUP)
    assert unparse(node) == 'displayName co "ops"'


def test_overlong_words_are_refused() -> None:
    assert USER is not None
    with pytest.raises(InvalidFilter):
        text_search("x" * 5000, USER)
