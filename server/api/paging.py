"""Pagination of list endpoints: ``page`` and ``per_page`` in the query; the answer stays a
list, with ``X-Total-Count`` and an RFC 8288 ``Link`` header to the next and previous pages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request, Response

T = TypeVar("T")


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int
    request: Request
    response: Response

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def apply(self, items: Sequence[T], total: int | None = None) -> list[T]:
        """This page of ``items`` (all of them; or, with ``total``, a page read already)."""
        if total is None:
            total, items = len(items), items[self.offset : self.offset + self.per_page]
        self.response.headers["X-Total-Count"] = str(total)
        links = []
        if self.offset + self.per_page < total:
            links.append(self._link(self.page + 1, "next"))
        if self.page > 1:
            links.append(self._link(self.page - 1, "prev"))
        if links:
            self.response.headers["Link"] = ", ".join(links)
        return list(items)

    def _link(self, page: int, rel: str) -> str:
        url = self.request.url.include_query_params(page=page, per_page=self.per_page)
        return f'<{url}>; rel="{rel}"'


def paging(
    request: Request,
    response: Response,
    page: Annotated[int, Query(ge=1, le=100_000, description="Page, from 1.")] = 1,
    per_page: Annotated[int, Query(ge=1, le=500, description="Items a page.")] = 100,
) -> Paging:
    return Paging(page, per_page, request, response)


Page = Annotated[Paging, Depends(paging)]
