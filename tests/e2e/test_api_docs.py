"""``/docs`` needs no network: Swagger UI's files come from the installed package, served by the app itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Route, sync_playwright

from tests.e2e.browser_support import CHROMIUM, CHROMIUM_ARGS, live_server, require_browser_tools
from tests.e2e.conftest import Service


def test_docs_page_names_only_its_own_origin(service: Service) -> None:
    page = service.client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert re.findall(r"https?://", page.text) == []  # no CDN, no other origin
    referenced = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page.text)
    assert sorted(referenced) == [
        "/docs/assets/favicon-32x32.png",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
    ]
    for path in referenced:
        asset = service.client.get(path)
        assert asset.status_code == 200 and len(asset.content) > 500, path
    assert "SwaggerUIBundle" in service.client.get("/docs/assets/swagger-ui-bundle.js").text


@pytest.mark.parametrize("path", ["/docs/assets/index.html", "/docs/assets/..%2F__init__.py", "/docs/assets/x.js"])
def test_docs_serve_no_other_file(service: Service, path: str) -> None:
    response = service.client.get(path)
    assert response.status_code == 404 and response.json()["code"] in ("page.not_found", "not_found")


@pytest.mark.browser
def test_docs_render_in_chromium_with_every_other_origin_unreachable(tmp_path: Path) -> None:
    require_browser_tools()
    refused: list[str] = []
    with live_server(tmp_path / "data", ["blink"], challenge_actions=1) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True)
        try:
            page = browser.new_page()

            def only_the_server(route: Route) -> None:
                if route.request.url.startswith(server.base_url + "/"):
                    route.continue_()
                else:  # as on a network without internet access
                    refused.append(route.request.url)
                    route.abort("internetdisconnected")

            page.route("**/*", only_the_server)
            page.goto(server.base_url + "/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
            assert "realname" in (page.text_content(".swagger-ui .info .title") or "")
            # The operations are listed from /openapi.json: the UI really ran.
            page.wait_for_selector(".opblock-summary-path[data-path='/v1/attempts']", timeout=30_000)
        finally:
            browser.close()
    assert refused == []
