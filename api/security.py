"""API-key authentication (``X-API-Key``), enabled when ``IMPUTER_API_KEYS`` is set.

Keys are compared in constant time. Health endpoints do not use this dependency and
stay open.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Security
from fastapi.security import APIKeyHeader

from api.settings import Settings, get_settings

__all__ = ["api_key_header", "require_api_key"]

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="One of the keys listed in IMPUTER_API_KEYS (required only when that is set).",
)


def _matches(given: str, keys: frozenset[str]) -> bool:
    raw = given.encode("utf-8", "surrogateescape")
    found = False
    for key in keys:  # no early exit: constant time over the key list
        found |= hmac.compare_digest(raw, key.encode("utf-8", "surrogateescape"))
    return found


async def require_api_key(
    key: Annotated[str | None, Security(api_key_header)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> None:
    """Raise 401 when keys are configured and ``X-API-Key`` is missing or wrong."""
    keys = settings.api_key_set
    if not keys:
        return
    if key is None or not _matches(key, keys):
        reason = "missing" if key is None else "not valid"
        raise HTTPException(
            status_code=401,
            detail=f"The X-API-Key header is {reason}; send a key listed in IMPUTER_API_KEYS.",
            headers={"WWW-Authenticate": 'APIKey header="X-API-Key"'},
        )
