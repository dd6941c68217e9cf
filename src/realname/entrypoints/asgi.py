"""ASGI entry point: ``uvicorn --factory realname.entrypoints.asgi:build_app``."""

from __future__ import annotations

from fastapi import FastAPI

from realname.adapters.http.app import create_app
from realname.adapters.logs import configure_logging
from realname.bootstrap import Container
from realname.config import Settings


def build_app() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_level)
    container = Container(settings)
    container.initialise()
    return create_app(container.http_services())
