"""How a route that changes one case is declared: its path, the case page it belongs to and
the action it is allowed for, which is also the action it opens the case for (`open_case`), so
a route cannot check one action and perform another. The page form (`case_form`) and the JSON
endpoint (`case_change`, 202 with what was queued) of each change are declared alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel

from portal_extensions.access import Action, Page
from portal_extensions.web.guard import allow
from portal_extensions.web.routes.case import CHANGE_RESPONSES, QueuedOut

F = TypeVar("F", bound=Callable[..., Any])


def case_form(router: APIRouter, path: str, action: Action) -> Callable[[F], F]:
    """Declare a page form's POST that changes one case: `path` (with `{portal_id}`) on the
    page `router`, allowed on the case page for `action`, the action the route then opens the
    case for (`open_case`)."""

    def declare(endpoint: F) -> F:
        allowed = allow(Page.CASE, case_param="portal_id", action=action)(endpoint)
        router.post(path)(allowed)
        return endpoint

    return declare


def case_change(
    router: APIRouter,
    path: str,
    action: Action,
    *,
    responses: dict[int | str, dict[str, Any]] = CHANGE_RESPONSES,
    response_model: type[BaseModel] = QueuedOut,
) -> Callable[[F], F]:
    """Declare a JSON endpoint that queues a change to one case: POST `path` on the API
    `router`, answering 202 with `response_model` (or a refusal in `responses`), allowed on the
    case page for `action`, the action the endpoint then opens the case for (`open_case`)."""

    def declare(endpoint: F) -> F:
        allowed = allow(Page.CASE, case_param="portal_id", action=action)(endpoint)
        router.post(path, response_model=response_model, status_code=202, responses=responses)(
            allowed
        )
        return endpoint

    return declare


__all__ = ["case_change", "case_form"]
