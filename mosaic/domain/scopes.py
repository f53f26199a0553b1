"""What a personal API token may do: its scopes.

Cookies are for browsers (and their writes must come from our own pages: see
`mosaic.web_security.same_origin_write`); a script or another tool calls the REST API with a
personal API token instead, sent as ``Authorization: Bearer <token>``. A token reaches only
the routes its scopes name, so a token leaked from a calendar integration that only reads
meetings cannot delete them, and no token reaches the token routes themselves or the
instance admin's: a leaked token cannot mint another or outlive its revocation.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    MEETINGS_READ = "meetings:read"
    MEETINGS_WRITE = "meetings:write"


def allows(granted: frozenset[Scope], needed: Scope) -> bool:
    """Whether a token holding ``granted`` may do what needs ``needed``. Each scope stands
    alone (writing does not imply reading): a token is exactly what its owner ticked."""
    return needed in granted


def parse(stored: str) -> frozenset[Scope]:
    """The scopes of a stored, space-separated list; names this version no longer knows are
    dropped (a token never gains by a rename)."""
    known = {scope.value for scope in Scope}
    return frozenset(Scope(name) for name in stored.split() if name in known)
