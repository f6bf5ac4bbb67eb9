"""/dashboard on the Serve gateway, opened in headless Chromium (Debian's package, driven by
Playwright): the charts render with data points from real traffic, and the page refreshes.

Chromium is installed by CI (.ci/run); here its absence is a failure, not a skip.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from analytics_support import FEATURES, V1, Truth
from gateway import deploy_gateway_app, serve_http

from rayops.serving.endpoints import Endpoints
from rayops.storage import Storage

#: Own clusters, chaos or a browser: the slow tier (`pytest -m slow`).
pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@pytest.fixture(scope="module")
def root(recent: tuple[Storage, Truth]) -> Storage:
    """A day of history on `shop` (ending now) and an endpoint `live` with no history."""
    storage = recent[0]
    Endpoints(storage).create("live", V1, reason="browser test")
    return storage


@pytest.fixture(scope="module")
def gateway(ray_cluster: Any, root: Storage) -> Iterator[str]:
    overrides = {"serving_log_flush_s": 0.3, "analytics_cache_s": 0.5, "dashboard_refresh_s": 1.0,
                 "analytics_report_ttl_s": 0.5}  # fmt: skip
    with serve_http() as url:
        deploy_gateway_app(url, root.uri, **overrides)
        yield url


def _traffic(url: str, endpoint: str, n: int, seed: int) -> int:
    """``n`` predict requests with feedback; returns the rows sent."""
    rng = np.random.default_rng(seed)
    rows = 0
    for i in range(n):
        x = rng.normal(size=(2, len(FEATURES)))
        body = {"instances": [dict(zip(FEATURES, map(float, r), strict=True)) for r in x],
                "key": f"user-{seed}-{i}"}  # fmt: skip
        answer = requests.post(f"{url}/endpoints/{endpoint}/predict", json=body, timeout=10)
        assert answer.status_code == 200, answer.text
        actual = [float(3 * r[0] - 2 * r[1] + 0.5 * r[2]) for r in x]
        fb = {"request_id": answer.json()["request_id"], "actuals": actual}
        assert requests.post(f"{url}/endpoints/{endpoint}/feedback", json=fb, timeout=10).ok
        rows += len(x)
    return rows


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(
            "Debian's chromium is not installed: run `apt-get install -y chromium` "
            "(.ci/run does this in CI). The dashboard browser test needs it."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]'.")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium") or CHROMIUM, args=ARGS)
        yield b
        b.close()


def _requests_card(page: Any) -> int:
    return int(page.locator(".card .v").first.inner_text().replace(",", ""))


def test_dashboard_charts_show_live_traffic_and_refresh(
    gateway: str, browser: Any, root: Storage, tmp_path: Path
) -> None:
    _traffic(gateway, "live", 12, seed=1)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    external: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(gateway) else external.append(r.url))

    def loaded(endpoint: str, expect: int) -> None:
        page.goto(f"{gateway}/dashboard?endpoint={endpoint}&range=1h")
        page.wait_for_selector("body[data-ready=true]", timeout=30_000)
        page.wait_for_function(
            f"Number(document.querySelector('.card .v').textContent.replace(/,/g, '')) >= {expect}",
            timeout=30_000,
        )  # the log is flushed within serving_log_flush_s; the page polls every second

    loaded("live", 12)
    assert _requests_card(page) == 12  # only the traffic this test sent
    for chart in ("mae", "latency", "error_rate", "accuracy"):
        points = page.locator(f'svg[data-chart="{chart}"] circle.pt[data-ref="{V1}"]')
        assert points.count() >= 1, chart
        assert float(points.first.get_attribute("data-v")) >= 0
    assert page.locator('svg[data-chart="traffic"] rect.bar').count() >= 1
    assert page.locator('.split [data-ref="demand@1.0.0"]').get_attribute("data-v") == "100"
    # More traffic: the open page refreshes by itself.
    _traffic(gateway, "live", 5, seed=2)
    page.wait_for_function(
        "Number(document.querySelector('.card .v').textContent.replace(/,/g, '')) >= 17",
        timeout=30_000,
    )
    assert _requests_card(page) == 17

    # The endpoint with a day of history plus live traffic: every panel has data.
    _traffic(gateway, "shop", 10, seed=3)
    page.goto(f"{gateway}/dashboard?endpoint=shop&range=24h")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    for chart in ("mae", "latency", "error_rate", "accuracy"):
        assert page.locator(f'svg[data-chart="{chart}"] circle.pt').count() >= 20, chart
    versions = set(page.locator('svg[data-chart="mae"] circle.pt').evaluate_all(
        "els => els.map(e => e.dataset.ref)"))  # fmt: skip
    assert versions == {"demand@1.0.0", "demand@1.1.0"}
    assert page.locator('svg[data-chart="drift-heatmap"] rect.cell').count() >= 3
    assert page.locator('svg[data-chart="drift"] rect.bar').count() == 3
    assert page.locator('svg[data-chart="timeline"] .event').count() >= 1
    assert page.locator(".rec[data-priority=critical]").count() >= 1
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 50_000
    assert not errors, errors
    assert not external, f"the page fetched from outside the gateway: {external}"


def test_dashboard_shows_a_classifiers_metrics(
    gateway: str, browser: Any, root: Storage, tmp_path: Path
) -> None:
    """A binary classifier's endpoint: the page names the task, its KPI cards and charts are
    log loss, AUC, accuracy and F1, and the versions table has their columns."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta

    from analytics_support import write_classifier

    end = datetime.now(UTC) - timedelta(minutes=1)
    with ThreadPoolExecutor(1) as pool:  # its feedback writer runs an event loop of its own
        truth = pool.submit(write_classifier, root, "clinic", end, 6).result()
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{gateway}/dashboard?endpoint=clinic&range=24h")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    assert page.locator('[data-task="binary"]').count() == 1
    assert page.locator("#title-loss").inner_text().startswith("Log loss per version")
    assert _requests_card(page) == len(truth)
    for metric in ("logloss", "auc", "accuracy", "f1"):
        assert page.locator(f'.card[data-metric="{metric}"]').count() == 1, metric
    assert page.locator('.card[data-metric="mae"]').count() == 0
    auc = float(page.locator('.card[data-metric="auc"] .v').inner_text())
    assert 0.5 < auc <= 1.0
    for chart in ("logloss", "accuracy"):
        assert page.locator(f'svg[data-chart="{chart}"] circle.pt').count() >= 6, chart
    assert page.locator('#versions td[data-metric="auc"]').count() == 1
    page.screenshot(path=str(tmp_path / "classifier.png"), full_page=True)
    assert not errors, errors


def _uncertainty_history(root: Storage) -> tuple[str, str]:
    """A regressor with intervals whose traffic of the last complete hour moves attribution
    from ``a`` to ``b``, and a classifier with calibration and sets; the attribution task ran."""
    import sys
    from datetime import UTC, datetime, timedelta

    sys.path.insert(0, str(Path(__file__).parents[1] / "monitoring"))
    from uncertainty_support import (
        binary_model,
        binary_rows,
        log_binary,
        log_regression,
        regression_model,
        regression_rows,
    )

    from rayops.config import Settings
    from rayops.monitoring.attribution import AttributionTask

    now = datetime.now(UTC)
    # whole clock hours (what the attribution task explains): two like training, one moved
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    ref, booster = regression_model(root, "prices")
    like = regression_rows(720, 60)
    moved = regression_rows(360, 61, a_scale=0.02, b_scale=4.0)
    log_regression(root, "prices", ref, booster, like, start=start, every_s=100, prefix="l")
    later = start + timedelta(hours=2)
    log_regression(root, "prices", ref, booster, moved, start=later, every_s=100, prefix="m")
    AttributionTask(root, Settings(monitoring_log_lag_s=0, monitoring_explain_sample_rows=30)).tick(
        now
    )
    cref, cbooster = binary_model(root, "churn")
    x, y = binary_rows(600, 62)
    log_binary(root, "churn", cref, cbooster, x, y, start=start, every_s=15, prefix="c")
    return ref, cref


def test_dashboard_shows_coverage_estimates_importance_calibration_histograms(
    gateway: str, browser: Any, root: Storage, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # the feedback writers run an event loop of their own
        ref, cref = pool.submit(_uncertainty_history, root).result()
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{gateway}/dashboard?endpoint=prices&range=24h")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    for chart in ("coverage", "interval-width"):
        points = page.locator(f'svg[data-chart="{chart}"] circle.pt[data-ref="{ref}"]')
        assert points.count() >= 3, chart
    coverage = [float(v) for v in page.locator('svg[data-chart="coverage"] circle.pt').evaluate_all(
        "els => els.map(e => e.dataset.v)")]  # fmt: skip
    assert all(0 <= v <= 1 for v in coverage)
    for kind in ("estimated", "realized"):
        assert (
            page.locator(f'svg[data-chart="estimated"] circle.pt[data-ref="{ref} {kind}"]').count()
            >= 3
        )
    features = set(page.locator('svg[data-chart="importance"] circle.pt').evaluate_all(
        "els => els.map(e => e.dataset.ref)"))  # fmt: skip
    assert features == {"a", "b", "c"}
    b_points = page.locator('svg[data-chart="importance"] circle.pt[data-ref="b"]')
    b_share = sorted(
        b_points.evaluate_all("els => els.map(e => [e.dataset.t, Number(e.dataset.v)])")
    )
    assert len(b_share) == 3 and b_share[-1][1] > 0.6 > b_share[0][1]  # b took over last hour
    assert "largest move from training" in page.locator("#imp-sub").inner_text()
    hist = page.locator('svg[data-chart="histogram"]')
    assert (
        hist.locator("rect.bar.baseline").count() == hist.locator("rect.bar.current").count() >= 5
    )
    page.select_option("#hist-feature", "a")
    assert page.locator('svg[data-chart="histogram"]').get_attribute("data-feature") == "a"
    assert page.locator('svg[data-chart="calibration"]').count() == 0  # a regressor: none
    page.screenshot(path=str(tmp_path / "uncertainty.png"), full_page=True)
    # the classifier: its calibration curve (before and after) and prediction-set sizes
    page.goto(f"{gateway}/dashboard?endpoint=churn&range=24h")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    for part in ("before", "after"):
        assert (
            page.locator(f'svg[data-chart="calibration"] circle.pt[data-ref="{part}"]').count() >= 3
        )
    assert (
        page.locator(f'svg[data-chart="interval-width"] circle.pt[data-ref="{cref}"]').count() >= 3
    )
    assert page.locator("#title-width").inner_text().startswith("Prediction-set size")
    page.screenshot(path=str(tmp_path / "uncertainty-classifier.png"), full_page=True)


def test_dashboard_draws_the_guards_analysis_over_time(
    gateway: str, browser: Any, root: Storage, tmp_path: Path
) -> None:
    """A full deploy on its own endpoint, checked by the post-deploy guard on real traffic:
    the rollout panel draws stable's and the candidate's loss per check, with the gate."""
    import time
    from datetime import UTC, datetime

    from analytics_support import V2
    from harness import wait_until

    from rayops.config import Settings
    from rayops.rollout import Rollouts
    from rayops.rollout.guard import GuardTask

    Endpoints(root).create("guarded", V1, reason="browser test")
    _traffic(gateway, "guarded", 20, seed=4)
    time.sleep(1.0)  # the log flushes
    settings = Settings(rollout_min_samples=5, rollout_guard_interval_s=0.1,
                        rollout_guard_window_rows=10_000)  # fmt: skip
    Rollouts(root, settings=settings).deploy("guarded", V2, strategy="full")

    def serves_v2() -> bool:
        body = {"instances": [dict.fromkeys(FEATURES, 0.0)]}
        r = requests.post(f"{gateway}/endpoints/guarded/predict", json=body, timeout=10)
        return f"{r.json()['model']}@{r.json()['version']}" == V2

    assert wait_until(serves_v2, timeout=10)
    task = GuardTask(root, settings)
    for seed in (5, 6, 7):
        _traffic(gateway, "guarded", 10, seed=seed)
        time.sleep(0.8)
        task.tick(datetime.now(UTC))
    points = Rollouts(root).analyses("guarded")
    assert len(points) == 3 and all(p.phase == "guard" for p in points)

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{gateway}/dashboard?endpoint=guarded&range=1h")
    page.wait_for_selector('svg[data-chart="rollout"]', timeout=30_000)
    assert page.locator("#rollout-panel").is_visible()
    for ref, role in ((V1, "stable_metric"), (V2, "candidate_metric")):
        drawn = page.locator(f'svg[data-chart="rollout"] circle.pt[data-ref="{ref}"]')
        assert drawn.count() == 3, ref
        values = sorted(float(v) for v in drawn.evaluate_all("els => els.map(e => e.dataset.v)"))
        assert values == pytest.approx(sorted(getattr(p, role) for p in points))
    rows = page.locator("#rollout-steps tr.step")
    assert rows.count() == 3
    assert set(rows.evaluate_all("els => els.map(e => e.dataset.gate)")) <= {
        "better",
        "worse",
        "undecided",
    }
    assert "guard watching" in page.locator("#rollout-sub").inner_text()
    page.locator("#rollout-panel").screenshot(path=str(tmp_path / "rollout.png"))
    # An endpoint without a rollout shows no rollout panel.
    page.goto(f"{gateway}/dashboard?endpoint=live&range=1h")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    assert not page.locator("#rollout-panel").is_visible()
    assert not errors, errors
