"""ASGI entry point: ``uvicorn --factory realname.entrypoints.asgi:build_app``.

A worker only checks that the data folder is ready (schema current, key file present and matching the
database); it never creates keys or migrates: ``realname init`` (or ``realname serve``, which runs it
once before starting its workers) does that.
"""

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
    container.check_ready()
    container.warm_up()  # in this worker, after the fork: models are loaded once per worker
    return create_app(container.http_services())
