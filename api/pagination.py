"""`{"count", "next", "previous", "results"}` with page/page_size everywhere."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel

from domain.errors import Unprocessable, error_class

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    count: int
    next: str | None
    previous: str | None
    results: list[Item]


class PageParams(BaseModel):
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


async def page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"items per page, at most {MAX_PAGE_SIZE}")
    ] = DEFAULT_PAGE_SIZE,
) -> PageParams:
    return PageParams(page=page, page_size=page_size)


PageDep = Annotated[PageParams, Depends(page_params)]


def build_page(
    *, request: Request, params: PageParams, count: int, results: list[Item]
) -> Page[Item]:
    # From GUICHET_PUBLIC_URL, never from the Host header: a forged Host
    # must not end up in links a client follows.
    public = request.app.state.settings.effective_public_url

    def link(page: int) -> str:
        query = request.url.include_query_params(page=page, page_size=params.page_size).query
        return f"{public}{request.url.path}?{query}"

    has_next = params.offset + len(results) < count
    return Page[Item](
        count=count,
        next=link(params.page + 1) if has_next else None,
        previous=link(params.page - 1) if params.page > 1 else None,
        results=results,
    )


UnknownQueryParameter = error_class(Unprocessable, "unknown_query_parameter")


def _query_names(dependant: Any) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def known_query_only(request: Request) -> None:
    """A filter misspelt (`?owner=` for `?learner=`) is a 422 that names it,
    not a silently unfiltered list."""
    route = request.scope.get("route")
    known = _query_names(route.dependant) if route is not None else set()
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise UnknownQueryParameter(
            f"Unknown query parameter {', '.join(unknown)}; known: {', '.join(sorted(known))}.",
            details={"unknown": unknown},
        )
