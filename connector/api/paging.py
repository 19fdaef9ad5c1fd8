"""Paging: `page` and `limit` query parameters in, seed 004's list envelope out."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from .inputs import int_arg

MAX_LIMIT = 100


def paging() -> tuple[int, int]:
    return int_arg("page", 1, low=1, high=1_000_000), int_arg("limit", 20, low=1, high=MAX_LIMIT)


def paged(key: str, items: list[Any], total: int, page: int, limit: int) -> Response:
    """The list envelope of seed 004: items plus page, limit, total, pages, has_next/has_prev."""
    pages = (total + limit - 1) // limit
    return jsonify(
        {
            key: items,
            "pagination": {
                "page": page,
                "limit": limit,
                "total": total,
                "total_pages": pages,
                "has_next": page < pages,
                "has_prev": page > 1,
            },
        }
    )
