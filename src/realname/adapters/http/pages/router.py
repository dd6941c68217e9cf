"""Routes that serve the pages and their static assets, with a strict Content-Security-Policy.

Only the files listed in ``ASSETS`` are served (no path from the request ever reaches the file system),
read from package data on first request and kept in memory. A page may name a part shared with other pages
(``<!-- include verification.html -->``); the part is put in its place when the page is first read.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Final

from fastapi import APIRouter, Response

from realname.adapters.http.routing import OneHopRoute
from realname.domain.errors import NotFound

DEFAULT_READER_BRIDGE_URL: Final = "http://127.0.0.1:18455"
"""Where the store PC's reader bridge listens (docs/reader-bridge.md); ``REALNAME_READER_BRIDGE_URL``."""
READER_BRIDGE_PLACEHOLDER: Final = b"READER_BRIDGE_URL"


def content_security_policy(reader_bridge_url: str) -> str:
    """Self only, plus the reader bridge for ``fetch``: no inline script or style, no third-party origin;
    blob: and mediastream: for the camera."""
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob: data:",
            "media-src 'self' blob: mediastream:",
            f"connect-src 'self' {reader_bridge_url}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def page_headers(reader_bridge_url: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(reader_bridge_url),
        "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


MEDIA_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

PAGES: Final = {"/": "kiosk.html", "/me": "me.html", "/review": "review.html", "/reports": "reports.html"}
PARTS: Final = ("verification.html", "signin.html")
"""Markup shared by pages (never served on its own)."""
ASSETS: Final = frozenset(
    {
        "pages.css",
        "i18n.js",
        "api.js",
        "capture.js",
        "framing.js",
        "terminal.js",
        "reader.js",
        "verification.js",
        "kiosk.js",
        "session.js",
        "me.js",
        "review.js",
    }
    | {"reports.js", "reports.css"}
)


class AssetNotFound(NotFound):
    code = "page.not_found"


@cache
def _read(name: str) -> bytes:
    return resources.files("realname.adapters.http.pages").joinpath("static", name).read_bytes()


@cache
def _page(name: str) -> bytes:
    page = _read(name)
    for part in PARTS:
        page = page.replace(f"<!-- include {part} -->".encode(), _read(part).strip())
    return page


def build_pages_router(reader_bridge_url: str = DEFAULT_READER_BRIDGE_URL) -> APIRouter:
    """The kiosk, self-service and review pages and ``/static/<asset>``; kept out of the OpenAPI schema.

    ``reader_bridge_url`` (an origin, checked by the settings) is named in the kiosk page and allowed in its
    Content-Security-Policy, so the page may call the store PC's reader bridge and nothing else."""
    router = APIRouter(include_in_schema=False, route_class=OneHopRoute)
    headers = page_headers(reader_bridge_url)

    def _respond(name: str) -> Response:
        suffix = name[name.rindex(".") :]
        content = (
            _page(name).replace(READER_BRIDGE_PLACEHOLDER, reader_bridge_url.encode())
            if suffix == ".html"
            else _read(name)
        )
        return Response(content=content, media_type=MEDIA_TYPES[suffix], headers=headers)

    @router.get("/", response_class=Response)
    def kiosk() -> Response:
        """The clerk's kiosk: sign-in, the visit's purpose, ID, consent, challenge, then the service and its receipt."""
        return _respond(PAGES["/"])

    @router.get("/me", response_class=Response)
    def self_service() -> Response:
        """The subscriber's self-service lookup."""
        return _respond(PAGES["/me"])

    @router.get("/review", response_class=Response)
    def review() -> Response:
        """The reviewer's queue."""
        return _respond(PAGES["/review"])

    @router.get("/reports", response_class=Response)
    def reports() -> Response:
        """Auditors' reports: figures per outlet, charts, downloads and anomaly flags."""
        return _respond(PAGES["/reports"])

    @router.get("/static/{asset}", response_class=Response)
    def serve_asset(asset: str) -> Response:
        if asset not in ASSETS:
            raise AssetNotFound(f"no asset named {asset!r}")
        return _respond(asset)

    return router
