"""The dashboard's HTTP side without Ray: the token (header or cookie), the JSON API,
errors, no external resources, and the report cache."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from analytics_support import Truth
from harness import free_port, wait_until

from rayops.analytics.web import COOKIE, ReportCache
from rayops.config import Settings
from rayops.storage import Storage

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def server(recent: tuple[Storage, Truth]) -> Iterator[str]:
    """The gateway's FastAPI app (with /dashboard) under uvicorn, token required."""
    import uvicorn

    from rayops.apps.gateway import gateway_api
    from rayops.serving.service import GatewayService

    settings = Settings(storage=recent[0].uri, api_token=TOKEN, analytics_cache_s=30.0)
    service = GatewayService(settings)
    port = free_port()
    config = uvicorn.Config(gateway_api(service), host="127.0.0.1", port=port, log_level="error")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/v2/health/live", timeout=1).ok
        except requests.RequestException:
            return False

    assert wait_until(up, timeout=20)
    yield url
    srv.should_exit = True
    thread.join(timeout=10)
    service.close()


def test_the_dashboard_needs_the_token(server: str) -> None:
    page = requests.get(f"{server}/dashboard", timeout=10)
    assert page.status_code == 401 and "?token=" in page.text
    api = requests.get(f"{server}/dashboard/api/report", params={"endpoint": "shop"}, timeout=10)
    assert api.status_code == 401 and api.json()["type"] == "UnauthorizedError"
    wrong = requests.get(f"{server}/dashboard", params={"token": "nope"}, timeout=10)
    assert wrong.status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    ok = requests.get(f"{server}/dashboard/api/endpoints", headers=bearer, timeout=10)
    assert ok.status_code == 200 and "shop" in ok.json()["endpoints"]


def test_token_in_the_url_becomes_a_cookie(server: str) -> None:
    s = requests.Session()
    first = s.get(f"{server}/dashboard", params={"token": TOKEN, "endpoint": "shop"},
                  allow_redirects=False, timeout=10)  # fmt: skip
    assert first.status_code == 303
    assert first.headers["location"] == "/dashboard?endpoint=shop"  # token out of the URL
    cookie = first.headers["set-cookie"]
    assert f"{COOKIE}={TOKEN}" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    page = s.get(f"{server}/dashboard?endpoint=shop", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    # Everything is inline: no script, style or font from anywhere else.
    assert 'src="http' not in page.text and 'href="http' not in page.text
    assert "<script src" not in page.text and "@import" not in page.text
    report = s.get(f"{server}/dashboard/api/report", params={"endpoint": "shop", "range": "24h"},
                   timeout=60)  # fmt: skip
    assert report.status_code == 200
    doc = report.json()
    assert doc["schema_version"] == 1 and doc["totals"]["requests"] > 0
    bad = s.get(f"{server}/dashboard/api/report", params={"endpoint": "shop", "range": "soon"},
                timeout=10)  # fmt: skip
    assert bad.status_code == 400 and "duration" in bad.json()["error"]
    missing = s.get(f"{server}/dashboard/api/report", timeout=10)
    assert missing.status_code == 400 and "endpoint=NAME" in missing.json()["error"]


def test_report_cache_computes_once_per_key_and_ttl() -> None:
    now = [100.0]
    cache = ReportCache(5.0, clock=lambda: now[0])
    calls: list[str] = []

    def compute(key: str) -> str:
        time.sleep(0.05)  # concurrent callers arrive while it runs
        calls.append(key)
        return f"report {key}"

    async def scenario() -> list[str]:
        first = await asyncio.gather(*(cache.get("a", lambda: compute("a")) for _ in range(5)))
        again = await cache.get("a", lambda: compute("a"))
        other = await cache.get("b", lambda: compute("b"))
        now[0] += 6.0  # expired
        later = await cache.get("a", lambda: compute("a"))
        return [*first, again, other, later]

    results = asyncio.run(scenario())
    assert results[:6] == ["report a"] * 6 and results[6] == "report b"
    assert calls == ["a", "b", "a"] and cache.computed == 3
