"""The refusals a request can meet before or inside a route, answered by the app's handlers
(`web.app`) as a page for a person and as JSON for a program."""

from __future__ import annotations

from collections.abc import Sequence


class SignInRequired(Exception):
    """Nobody is signed in (HTML: go to the sign-in page; API: 401)."""


class Refused(Exception):
    """Signed in, but this role may not use this route, or the CSRF token is wrong."""

    def __init__(self, status_code: int, heading: str, paragraphs: Sequence[str]) -> None:
        super().__init__(heading)
        self.status_code = status_code
        self.heading = heading
        self.paragraphs = list(paragraphs)


class NotFound(Exception):
    """No such page or case, or one the viewer may not see: the same answer for both."""


CANNOT_CHANGE = (
    "You can read this case but not change it. Cases shared with you by a colleague can only be"
    " changed by them, their named cover or Members' Services; once the constituent withdraws"
    " their authority, a case can only be closed."
)

__all__ = ["CANNOT_CHANGE", "NotFound", "Refused", "SignInRequired"]
