"""OpenAPI document: request-body schemas and problem+json error responses.

Request bodies are read raw (for the byte limit and the three media types) and
validated in the workers, so their schemas are declared through ``openapi_extra``
and registered here under ``components/schemas``. Error responses are declared with
the :class:`api.schemas.common.Problem` model; FastAPI files them under
``application/json``, which is rewritten to ``application/problem+json``. The
document is built once per app and cached.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from api.problems import PROBLEM_MEDIA_TYPE

__all__ = ["install_openapi"]


def install_openapi(
    app: FastAPI,
    request_models: Sequence[type[BaseModel]],
    auth_required: Callable[[], bool],
) -> None:
    """Replace ``app.openapi`` by a generator adding ``request_models`` and problem media types.

    When ``auth_required()`` is false (no ``IMPUTER_API_KEYS``), the ``X-API-Key``
    requirement is declared optional (an empty security alternative ``{}``), which is
    what the server then enforces.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in request_models:
            js = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in js.pop("$defs", {}).items():
                components.setdefault(name, sub)
            components[model.__name__] = js
        optional_auth = not auth_required()
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                if optional_auth and operation.get("security"):
                    operation["security"] = [*operation["security"], {}]
                for code, response in operation.get("responses", {}).items():
                    content = response.get("content")
                    if code[:1] in "45" and content and "application/json" in content:
                        content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
