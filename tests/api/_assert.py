"""Shared assertion for the service's 422 answers (problem+json naming the field at fault)."""

from __future__ import annotations

import re
from typing import Any

import httpx


def assert_422_at(response: httpx.Response, loc: list[Any], match: str, *, prefix: bool = False) -> None:
    """The answer is a 422 with an error at ``loc`` (or under it, with ``prefix``) whose message matches ``match``."""
    assert response.status_code == 422, response.text
    problem = response.json()
    assert any(
        (e["loc"][: len(loc)] if prefix else e["loc"]) == loc and re.search(match, e["msg"])
        for e in problem["errors"]
    ), problem


def assert_problem(response: httpx.Response, status: int, detail: str) -> None:
    """The answer is an RFC 9457 problem with ``status`` whose ``detail`` matches ``detail``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    problem = response.json()
    assert problem["status"] == status
    assert re.search(detail, problem["detail"]), problem["detail"]
