"""The pages a store and a subscriber use: kiosk (``/``), self-service (``/me``) and review (``/review``).

Static HTML, CSS and vanilla JavaScript served from package data; the pages call the ``/v1`` API and show
what it answers, and hold no business rules.
"""

from realname.adapters.http.pages.router import build_pages_router

__all__ = ["build_pages_router"]
