"""Realistic SCIM bodies: several emails, a phone, the enterprise extension, non-ASCII names."""

from __future__ import annotations

import random
import unicodedata
from typing import Any

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# (given, family, ascii handle or None to derive one): Latin with diacritics, CJK, Cyrillic, Greek…
PEOPLE = [
    ("Zoë", "Ñúñez", None),
    ("太郎", "山田", "taro.yamada"),
    ("Björn", "Ångström", None),
    ("José", "García-Márquez", None),
    ("Łukasz", "Wróblewski", None),
    ("Олег", "Иванов", "oleg.ivanov"),
    ("Ελένη", "Παπαδοπούλου", "eleni.papadopoulou"),
    ("Siobhán", "O'Connor", None),
    ("Nguyễn", "Thị Minh", None),
    ("Barbara", "Jensen", None),
    ("François", "Lefèvre", None),
    ("Ayşe", "Yılmaz", None),  # noqa: RUF001 - a real Turkish name
    ("Chloé", "Dubois", None),
    ("민준", "김", "minjun.kim"),
    ("Amélie", "Poulain", None),
    ("John", "Smith", None),
]
DEPARTMENTS = ["Engineering", "Finance", "R&D", "Sales", "Support", "Légal", "Marketing"]
DOMAINS = ["bench.example", "corp.example.com", "example.org"]


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c for c in folded.lower() if c.isalnum() or c in ".-")


def user_name(index: int, run: str) -> str:
    given, family, handle = PEOPLE[index % len(PEOPLE)]
    handle = handle or f"{_ascii(given)}.{_ascii(family)}"
    if index % 10 == 0:  # some userNames keep their non-ASCII letters
        handle = f"{given.lower()}.{family.lower()}".replace(" ", "")
    return f"{handle}.{run}{index}@{DOMAINS[index % len(DOMAINS)]}"


def user_body(index: int, run: str, *, manager_id: str | None = None) -> dict[str, Any]:
    """A full User as an IdP would POST it."""
    given, family, _ = PEOPLE[index % len(PEOPLE)]
    name = user_name(index, run)
    local = name.split("@", 1)[0]
    body: dict[str, Any] = {
        "schemas": [CORE_USER, ENTERPRISE],
        "userName": name,
        "externalId": f"ext-{run}-{index:07d}",
        "name": {"givenName": given, "familyName": family, "formatted": f"{given} {family}"},
        "displayName": f"{given} {family}",
        "active": True,
        "emails": [
            {"value": name, "type": "work", "primary": True},
            {"value": f"{local}@home.example", "type": "home"},
        ],
        "phoneNumbers": [{"value": f"+1 555 {index % 10_000:04d}", "type": "work"}],
        "title": "Engineer",
        "preferredLanguage": "en-US",
        ENTERPRISE: {
            "employeeNumber": f"{index:07d}",
            "department": DEPARTMENTS[index % len(DEPARTMENTS)],
            "organization": "Example Corp",
        },
    }
    if index % 3 == 0:
        body["emails"].append({"value": f"{local}@other.example", "type": "other"})
    if manager_id:
        body[ENTERPRISE]["manager"] = {"value": manager_id}
    return body


def stored_document(index: int, run: str) -> dict[str, Any]:
    """The document the store keeps for ``user_body`` (client attributes only)."""
    return user_body(index, run)


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def entra_active(active: bool) -> dict[str, Any]:
    """Microsoft Entra: capitalised op, a path, and the boolean as a string."""
    return patch({"op": "Replace", "path": "active", "value": "True" if active else "False"})


def okta_active(active: bool) -> dict[str, Any]:
    """Okta: lower-case op, no path, a value object."""
    return patch({"op": "replace", "value": {"active": active}})


def given_name(value: str) -> dict[str, Any]:
    return patch({"op": "replace", "path": "name.givenName", "value": value})


def random_given(rng: random.Random, seq: int) -> str:
    given, _, _ = PEOPLE[rng.randrange(len(PEOPLE))]
    return f"{given}{seq}"
