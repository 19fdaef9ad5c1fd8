"""What each API operation is, for the API description: `@describe(Operation(...))` on a
view records its summary, parameters, request body, answers and the errors it may give.

`platforms.openapi` reads these records off the app's routes to write the OpenAPI and
Swagger documents, so the description is generated from the code that serves the API;
a test checks that every route has one. Describing a view never changes what it does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import HookkitError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Param:
    """One query parameter."""

    name: str
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Answer:
    """One successful answer: its status, what it means, its body's schema and headers."""

    status: int
    description: str
    schema: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)  # name → description
    media_type: str = "application/json"


@dataclass(frozen=True)
class Operation:
    """One operation: `errors` lists the errors particular to it; those that every operation
    of its kind may answer (401 without a key, 404 for an unknown id, 400/413/415/422 for a
    body) are added by the document writer."""

    operation_id: str
    summary: str
    tag: str
    answers: tuple[Answer, ...]
    description: str = ""
    body: dict[str, Any] | None = None
    body_required: bool = True
    query: tuple[Param, ...] = ()
    errors: tuple[type[HookkitError], ...] = ()
    authenticated: bool = True
    # A credential of its own instead of an API key: a security scheme of the OpenAPI
    # document (`platforms.openapi`), e.g. "metricsToken" for /metrics.
    security: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)  # x-… members, e.g. for Swagger


def describe(operation: Operation) -> Callable[[F], F]:
    """Attach `operation` to a view function."""

    def attach(view: F) -> F:
        view.operation = operation  # type: ignore[attr-defined]
        return view

    return attach


def operation_of(view: Callable[..., Any]) -> Operation | None:
    """The operation a view was described with, if any."""
    return getattr(view, "operation", None)


PAGING = (
    Param("page", {"type": "integer", "minimum": 1, "default": 1}, "page number"),
    Param("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "per page"),
)
