"""The API's interactive docs at ``/docs``, served with no third-party origin: Swagger UI's script, stylesheet and
icon come from the installed ``swagger-ui-bundle-v2`` package (Swagger UI 5, pinned in pyproject.toml), so the page works on a
store's or an operator's network that cannot reach the internet.

Only the files in ``DOC_ASSETS`` are served (no path from the request reaches the file system); each is read from
the package on first request and kept in memory.
"""

from __future__ import annotations

from functools import cache
from typing import Final

from fastapi import APIRouter, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from realname.adapters.http.routing import OneHopRoute
from realname.domain.errors import NotFound

DOCS_PATH: Final = "/docs"
ASSETS_PATH: Final = "/docs/assets"
DOC_ASSETS: Final = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


class DocAssetNotFound(NotFound):
    code = "page.not_found"


@cache
def _asset(name: str) -> bytes:
    # Imported here: the package is only needed once someone opens the docs.
    from swagger_ui_bundle import swagger_ui_path

    data: bytes = (swagger_ui_path / name).read_bytes()
    return data


def build_docs_router(title: str, openapi_url: str) -> APIRouter:
    router = APIRouter(include_in_schema=False, route_class=OneHopRoute)

    @router.get(DOCS_PATH)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} · API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        )

    @router.get(ASSETS_PATH + "/{name}")
    def asset(name: str) -> Response:
        media_type = DOC_ASSETS.get(name)
        if media_type is None:
            raise DocAssetNotFound("no such file")
        return Response(_asset(name), media_type=media_type)

    return router
