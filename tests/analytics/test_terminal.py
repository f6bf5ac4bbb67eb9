"""`rayops dashboard`: one frame with --once, and a live view that redraws in place."""

from __future__ import annotations

import io
import json

from analytics_support import V1, V2, Truth
from rich.console import Console
from typer.testing import CliRunner

from rayops.analytics import AnalyticsReport
from rayops.analytics.terminal import render_report, run_live, sparkline
from rayops.cli import app
from rayops.storage import Storage


def test_dashboard_once_prints_one_frame(recent: tuple[Storage, Truth]) -> None:
    storage, _ = recent
    res = CliRunner().invoke(
        app, ["dashboard", "shop", "--once", "--range", "24h", "--storage", storage.uri],
        env={"COLUMNS": "150"},
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = res.output
    assert out.count("rayops · endpoint shop") == 1  # exactly one frame
    parts = ["Metrics", "MAE", "Latency p95", "Error rate", "Versions and traffic split"]
    parts += ["Drift vs", "Recommendations", "Recent alerts and events", V1, V2, "80%", "20%"]
    for part in parts:
        assert part in out, part
    assert "↑" in out  # MAE rises over the day: a trend arrow
    assert "critical" in out and "retrain" in out


def test_dashboard_overview_lists_every_endpoint(recent: tuple[Storage, Truth]) -> None:
    storage, _ = recent
    res = CliRunner().invoke(app, ["dashboard", "--once", "--storage", storage.uri],
                             env={"COLUMNS": "160"})  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "rayops endpoints" in res.output and "shop" in res.output
    doc = json.loads(
        CliRunner().invoke(app, ["dashboard", "shop", "--json", "--storage", storage.uri]).stdout
    )
    assert doc[0]["name"] == "shop" and doc[0]["totals"]["requests"] > 0


def test_live_mode_redraws_in_place(report7d: AnalyticsReport) -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=140, height=60)
    calls: list[float] = []
    fetched = []

    def fetch() -> object:
        fetched.append(1)
        return render_report(report7d)

    drawn = run_live(fetch, interval=2.5, console=console, frames=3, sleep=calls.append)  # type: ignore[arg-type]
    assert drawn == 3 and len(fetched) == 3 and calls == [2.5, 2.5]
    out = buf.getvalue()
    assert "\x1b[2K" in out and "\x1b[1A" in out  # erase and move up: redrawn in place
    assert out.count("Versions and traffic split") >= 3


def test_live_cli_stops_after_frames(recent: tuple[Storage, Truth]) -> None:
    storage, _ = recent
    res = CliRunner().invoke(
        app, ["dashboard", "shop", "--frames", "2", "--interval", "0.1", "--storage", storage.uri]
    )
    assert res.exit_code == 0, res.output
    assert "rayops · endpoint shop" in res.output


def test_sparkline_scales_between_min_and_max() -> None:
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█"
    assert sparkline([None, None]) == ""
    assert sparkline([2.0, 2.0]) == "▁▁"
