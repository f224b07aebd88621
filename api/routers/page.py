"""``GET /``: the web page (a Jinja2 template and plain JavaScript served by the app).

The page uses the service's own REST API from the browser: ``/v1/diagnostics`` for the
missingness of an uploaded table, ``/v1/jobs/impute`` to run EM as a job with its
progress, the job's result as JSON (estimates, trace, observed and imputed values) and
as CSV (the download). No build step, no CDN: the script and stylesheet are files in
``api/static`` served under ``/static/app``. With ``IMPUTER_API_KEYS`` set the page asks
for a key once and keeps it in the browser session (``sessionStorage``); the page itself
needs none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

import imputer
from api.settings import Settings, get_settings

__all__ = ["STATIC_PATH", "install_page", "router"]

_HERE = Path(__file__).resolve().parent.parent
_TEMPLATES = Jinja2Templates(directory=str(_HERE / "templates"))
#: where the page's script and stylesheet are served from
STATIC_PATH = "/static/app"

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
@router.head("/", response_class=HTMLResponse)  # RFC 9110: HEAD wherever GET (the server sends no body)
async def page(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> HTMLResponse:
    """The page: upload, missingness, options, a job with its progress, the result."""
    return _TEMPLATES.TemplateResponse(
        request,
        "index.html",
        {"version": imputer.__version__, "auth_required": settings.api_key_set, "static": STATIC_PATH},
    )


def install_page(app: FastAPI) -> None:
    """Add ``GET /`` and the page's static files to ``app``."""
    app.mount(STATIC_PATH, StaticFiles(directory=str(_HERE / "static")), name="page-assets")
    app.include_router(router)
