"""``/docs`` (Swagger UI), ``/redoc`` and ``/openapi.json``, served offline.

FastAPI's own pages load Swagger UI, ReDoc, a favicon and Google fonts from CDNs, so they are
blank without the internet. Here the pages point only at files of the ``fastapi-offline`` wheel
(Swagger UI's bundle and CSS, ReDoc's standalone bundle, a favicon), served under
``/docs-assets``; nothing in the pages names another host. ``RAG_API_DOCS`` turns the three
routes on or off; unset, they are on in every profile but ``prod``, where they answer 404.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from rag_core.config import Settings

ASSETS = "/docs-assets"
OPENAPI = "/openapi.json"


def docs_enabled(settings: Settings) -> bool:
    api_docs = settings.services.api_docs
    return api_docs if api_docs is not None else settings.profile != "prod"


def assets_dir() -> Path:
    """Swagger UI's and ReDoc's files, as the ``fastapi-offline`` wheel ships them."""
    return Path(str(files("fastapi_offline") / "static"))


def install(app: FastAPI) -> None:
    """The documentation routes (call only when :func:`docs_enabled`)."""
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")

    def url(request: Request, path: str) -> str:
        return f"{request.scope.get('root_path', '')}{path}"

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=url(request, OPENAPI), title=f"{app.title} - API",
            swagger_js_url=url(request, f"{ASSETS}/swagger-ui-bundle.js"),
            swagger_css_url=url(request, f"{ASSETS}/swagger-ui.css"),
            swagger_favicon_url=url(request, f"{ASSETS}/favicon.png"))

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=url(request, OPENAPI), title=f"{app.title} - API",
            redoc_js_url=url(request, f"{ASSETS}/redoc.standalone.js"),
            redoc_favicon_url=url(request, f"{ASSETS}/favicon.png"), with_google_fonts=False)
