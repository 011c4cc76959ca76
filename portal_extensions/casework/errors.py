"""Why casework declined to go on, as exceptions the web front (or a job) turns into answers.

Two only, because a caller must treat them differently: a case the viewer may not see is
answered exactly like a case that does not exist (`CaseNotFound`), so the answer gives nothing
away; a case they may see but not change is refused openly (`ActionRefused`), since saying no
then leaks nothing. Both are audited before they are raised.
"""

from __future__ import annotations

from portal_extensions.access import Action


class CaseworkError(Exception):
    """The root of casework's refusals."""


class CaseNotFound(CaseworkError):
    """No such case, or one the viewer may not see: the same answer for both."""


class ActionRefused(CaseworkError):
    """The viewer may see the case but not take `action` on it."""

    def __init__(self, action: Action) -> None:
        super().__init__(f"the viewer may not {action.value.replace('_', ' ')} on this case")
        self.action = action


__all__ = ["ActionRefused", "CaseNotFound", "CaseworkError"]
