"""Which IdP a connection is, from its User-Agents and the dialect rules it needed."""

from __future__ import annotations

import pytest

from scimserver.scim.idps import identify, vendor_of


@pytest.mark.parametrize(
    ("agent", "vendor"),
    [
        ("Okta SCIM Client 1.0.0", "Okta"),
        ("Microsoft.IdentityServices.Provisioning", "Microsoft Entra ID"),
        ("Azure AD SCIM Client", "Microsoft Entra ID"),
        ("OneLogin-SCIM", "OneLogin"),
        ("JumpCloud", "JumpCloud"),
        ("Google", "Google"),
        ("PingFederate", "Ping"),
        ("PingOne", "Ping"),
        ("python-requests", None),
        ("Shopping-Bot", None),
        ("Oktant", None),
    ],
)
def test_vendor_of_a_product_token(agent: str, vendor: str | None) -> None:
    assert vendor_of(agent) == vendor


def test_the_most_frequent_known_agent_wins_over_rules_and_raw_agents() -> None:
    agents = ["curl", "curl", "curl", "Okta SCIM Client 1.0.0", "Azure AD SCIM", "Okta"]
    assert identify(agents, ["legacy-extension-urn"]) == "Okta"


def test_rules_tell_the_idp_when_no_agent_does() -> None:
    assert identify(["python-requests", None], ["op-case", "boolean-string"]) == (
        "Microsoft Entra ID"
    )
    assert identify([], ["legacy-extension-urn"]) == "OneLogin"


def test_the_commonest_raw_agent_then_none() -> None:
    assert identify(["acme", "curl", "acme"], ["unheard-of-rule"]) == "acme"
    assert identify([None, ""], []) is None
