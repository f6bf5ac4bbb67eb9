"""The web dashboard, served by the gateway's Serve application at ``/dashboard``.

Routes (added to the gateway's FastAPI app by :func:`mount_dashboard`)::

    GET /dashboard                      the page (HTML, CSS and JS inline: no CDN, no
                                        other request but the JSON below)
    GET /dashboard/api/endpoints        endpoint names, default range, refresh interval
    GET /dashboard/api/report           ?endpoint=NAME&range=24h: the AnalyticsReport
                                        as JSON (see schema.json)

The page draws its charts itself (a small hand-written SVG renderer shipped in
``rayops/analytics/static/``) and polls the report every ``dashboard_refresh_s``.
Reports are computed off the event loop (``asyncio.to_thread``) and cached for
``analytics_cache_s`` per (endpoint, range), with one computation at a time per
key, so open pages do not hammer storage; the computed report is also kept in
storage for ``analytics_report_ttl_s`` (:mod:`~rayops.analytics.stored`), so the
other replicas read it instead of computing it again.

**Security.** With ``RAYOPS_API_TOKEN`` set, the page and its JSON need the token:
``Authorization: Bearer <token>``, or open ``/dashboard?token=<token>`` once in a
browser, which stores it in an HttpOnly, SameSite=Strict cookie (path
``/dashboard``) and redirects to the page without the token in the URL.

Example:
    >>> "<svg" not in page_html({"refresh_s": 5})  # the page draws its charts in JS
    True
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import Response

from rayops.analytics import analyze
from rayops.analytics.stored import stored_report
from rayops.errors import InvalidInputError
from rayops.monitoring.metrics import parse_window
from rayops.rollout import Rollouts
from rayops.serving.auth import BearerAuth
from rayops.serving.errors import UnauthorizedError

if TYPE_CHECKING:
    from rayops.serving.service import GatewayService

__all__ = ["COOKIE", "ReportCache", "mount_dashboard", "page_html"]

COOKIE = "rayops_token"
T = TypeVar("T")


def _static(name: str) -> str:
    return resources.files("rayops.analytics").joinpath("static", name).read_text("utf-8")


def page_html(config: dict[str, Any]) -> str:
    """The dashboard page with its CSS, JS and ``config`` inlined."""
    page = _static("dashboard.html")
    conf = json.dumps(config).replace("<", "\\u003c")
    return (
        page.replace("/*__CSS__*/", _static("dashboard.css"))
        .replace("//__JS__", _static("dashboard.js"))
        .replace("__CONFIG__", conf)
    )


class ReportCache:
    """Values computed in a worker thread and kept for ``ttl`` seconds, one computation
    at a time per key (concurrent callers of a key wait for the same result)."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._locks: dict[Any, asyncio.Lock] = {}
        self.computed = 0

    def _fresh(self, key: Any) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return True, entry[1]
        return False, None

    async def get(self, key: Any, compute: Callable[[], T]) -> T:
        hit, value = self._fresh(key)
        if hit:
            return value  # type: ignore[no-any-return]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit, value = self._fresh(key)
            if hit:
                return value  # type: ignore[no-any-return]
            result = await asyncio.to_thread(compute)
            self.computed += 1
            now = self._clock()
            self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
            self._entries[key] = (now + self.ttl, result)
            return result


_LOGIN = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>rayops dashboard: token needed</title><style>body{font:15px system-ui;background:#0f1115;
color:#e6e8ee;display:grid;place-items:center;height:90vh}code{background:#262b36;padding:2px 6px;
border-radius:4px}</style></head><body><div><h2>This dashboard needs the API token</h2>
<p>Open <code>/dashboard?token=&lt;RAYOPS_API_TOKEN&gt;</code> once; the browser keeps it in a
cookie for this dashboard only.</p></div></body></html>"""


def mount_dashboard(app: FastAPI, service: GatewayService) -> None:
    """Add ``/dashboard`` and its JSON API to the gateway's ``app`` (see the module docstring)."""
    from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

    settings, storage = service.settings, service.storage
    auth = BearerAuth(settings.api_token)
    reports = ReportCache(settings.analytics.cache_s)
    config = {
        "refresh_s": settings.analytics.dashboard_refresh_s,
        "range": settings.analytics.range,
    }
    html = page_html(config)

    def authorized(request: Request) -> bool:
        return auth.header_ok(request.headers.get("authorization")) or auth.matches(
            request.cookies.get(COOKIE)
        )

    def authorize(request: Request) -> None:
        if not authorized(request):
            raise UnauthorizedError(
                "The dashboard needs 'Authorization: Bearer <token>' (RAYOPS_API_TOKEN), or open "
                "/dashboard?token=<token> once in the browser."
            )

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard_page(request: Request, token: str | None = None) -> Response:
        if auth.required and token is not None:
            if not auth.matches(token):
                return HTMLResponse(_LOGIN, status_code=401)
            rest = {k: v for k, v in request.query_params.items() if k != "token"}
            target = "/dashboard" + (f"?{urlencode(rest)}" if rest else "")
            redirect = RedirectResponse(target, status_code=303)
            redirect.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/dashboard")
            return redirect
        if not authorized(request):
            return HTMLResponse(_LOGIN, status_code=401)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/dashboard/api/endpoints", include_in_schema=False)
    async def dashboard_endpoints(request: Request) -> JSONResponse:
        authorize(request)
        names = await reports.get(("endpoints",), service.endpoints.list)
        return JSONResponse({"endpoints": names, **config})

    @app.get("/dashboard/api/report", include_in_schema=False)
    async def dashboard_report(
        request: Request, endpoint: str | None = None, range: str | None = None
    ) -> JSONResponse:
        authorize(request)
        if not endpoint:
            raise InvalidInputError("Name the endpoint: /dashboard/api/report?endpoint=NAME.")
        window = range or settings.analytics.range
        if len(window) > 16:
            raise InvalidInputError("range must be a duration such as 1h, 24h, 7d or 30d.")
        parse_window(window)  # a bad range is a 400 before any storage read

        def compute() -> dict[str, Any]:
            report = analyze(storage, endpoint, range=window, settings=settings)
            return report.model_dump(mode="json")

        def shared() -> dict[str, Any]:  # one computation per TTL for every replica
            return stored_report(storage, endpoint, window, compute, settings)

        doc = await reports.get((endpoint, window), shared)
        return JSONResponse(doc, headers={"Cache-Control": "no-store"})

    @app.get("/dashboard/api/rollout", include_in_schema=False)
    async def dashboard_rollout(request: Request, endpoint: str | None = None) -> JSONResponse:
        authorize(request)
        if not endpoint:
            raise InvalidInputError("Name the endpoint: /dashboard/api/rollout?endpoint=NAME.")
        doc = await reports.get(("rollout", endpoint), lambda: rollout_analyses(storage, endpoint))
        return JSONResponse(doc, headers={"Cache-Control": "no-store"})


def rollout_analyses(storage: Any, endpoint: str) -> dict[str, Any]:
    """The endpoint's latest rollout and every analysis of it (canary steps, guard checks):
    what the dashboard's rollout chart draws. ``rollout`` is None without one.

    Example:
        >>> import tempfile
        >>> from rayops.storage import open_storage
        >>> rollout_analyses(open_storage(tempfile.mkdtemp()), "shop")
        {'rollout': None, 'analyses': []}
    """

    rollouts = Rollouts(storage)
    doc = rollouts.store.get(endpoint)
    if doc is None:
        return {"rollout": None, "analyses": []}
    points = rollouts.store.analyses(endpoint, doc.id)
    return {
        "rollout": doc.model_dump(mode="json"),
        "analyses": [p.model_dump(mode="json") for p in points],
    }
