"""Swagger UI (/docs) and ReDoc (/redoc) served from packaged assets, so the API's
documentation works on a host with no way out (no CDN, no web fonts, no validator).

The JavaScript and CSS come from the `fastapi-offline` wheel's static folder; only
its files are used, mounted under /docs/assets.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_URL", "assets_dir", "mount_api_docs"]

ASSETS_URL = "/docs/assets"


def assets_dir() -> Path:
    return Path(str(files("fastapi_offline").joinpath("static")))


def mount_api_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc; the app must be created with docs_url=redoc_url=None."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="apidocs")
    openapi_url = app.openapi_url or "/openapi.json"
    favicon = f"{ASSETS_URL}/favicon.png"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=favicon,
            # the default validator badge calls out to an external service
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        )
