"""Which identity provider a connection is, told from what its requests look like.

First the User-Agent product tokens: Okta documents ``Okta SCIM Client 1.0.0``; the
others are matched on the vendor's name in the token (Microsoft's provisioning service,
"Azure AD SCIM ...", OneLogin, JumpCloud, Google, PingOne / PingFederate). Failing that,
the IdP-dialect rules the server had to apply, where one vendor is known to need it.
Failing both, the commonest raw product token, so an unknown client still shows a name.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

OKTA = "Okta"
ENTRA = "Microsoft Entra ID"
ONELOGIN = "OneLogin"
JUMPCLOUD = "JumpCloud"
GOOGLE = "Google"
PING = "Ping"

_AGENTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), name)
    for pattern, name in (
        (r"\bokta\b", OKTA),
        (r"\b(microsoft|azure|entra|aad)\b", ENTRA),
        (r"\bone\s*login\b", ONELOGIN),
        (r"\bjump\s*cloud\b", JUMPCLOUD),
        (r"\bgoogle\b", GOOGLE),
        (r"\bping(one|federate|identity)?\b", PING),
    )
)
_RULES = {
    "legacy-extension-urn": ONELOGIN,  # SCIM 1.1's enterprise URN: OneLogin's template
    "manager-id-renamed": ONELOGIN,
    "op-case": ENTRA,  # "Replace", "Add": Entra's PATCH operations
    "boolean-string": ENTRA,  # "active": "False"
    "filter-target-created": ENTRA,
    "remove-by-value": ENTRA,
    "ignored-read-only-key": OKTA,  # the group id Okta sends when renaming a group
}


def vendor_of(user_agent: str) -> str | None:
    """The IdP a User-Agent product token names, if it names a known one."""
    for pattern, name in _AGENTS:
        if pattern.search(user_agent):
            return name
    return None


def identify(user_agents: Iterable[str | None], rules: Iterable[str]) -> str | None:
    """The IdP behind a connection's recent requests (their User-Agents and dialect rules).

    The most frequent known vendor among the User-Agents, else among the rules, else the
    most frequent raw User-Agent, else None.
    """
    agents = Counter(a for a in user_agents if a)
    known = Counter[str]()
    for agent, count in agents.items():
        vendor = vendor_of(agent)
        if vendor is not None:
            known[vendor] += count
    if not known:
        known.update(_RULES[r] for r in rules if r in _RULES)
    if known:
        return known.most_common(1)[0][0]
    return agents.most_common(1)[0][0] if agents else None
