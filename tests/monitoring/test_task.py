"""The control loop's monitoring task: what one pass stores, gauges, and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from monitoring_support import FEATURES, T0, endpoint, register, train, write_traffic
from typer.testing import CliRunner

from rayops.cli import app
from rayops.config import Settings
from rayops.control.loop import ControlLoop
from rayops.control.tasks import TASKS, default_tasks
from rayops.datasets import CovariateDrift, make_regression
from rayops.monitoring import MonitorTask, read_drift_reports, read_snapshots
from rayops.monitoring.alerts import add_rule
from rayops.monitoring.gauges import MemoryGauges, RayGauges, default_gauges
from rayops.monitoring.layout import cursor_key
from rayops.storage import Storage

SETTINGS = Settings(
    monitoring_log_lag_s=0, monitoring_interval_s=1800, monitoring_reference_rows=200,
    monitoring_error_detectors=["adwin", "page_hinkley"], monitoring_stream_features=["num_0"],
    monitoring_feature_detectors=["adwin"],
)  # fmt: skip


def _shop(storage: Storage, start: datetime = T0) -> str:
    """'shop' served by one version; 2 hours of traffic, num_0 shifted in the second."""
    df = make_regression(
        3000 + 600, seed=21,
        covariate_drift=CovariateDrift(at_row=3300, features=("num_0",), shift=1.5),
    )  # fmt: skip
    ref = register(storage, "shop", train(df.iloc[:3000], FEATURES, rounds=5), df.iloc[:3000])
    endpoint(storage, "shop", ref)
    live = df.iloc[3000:]
    write_traffic(
        storage, "shop", ref, live[FEATURES], live["target"] + 0.5, actuals=live["target"],
        every_s=60, rows_per_request=5, start=start,
    )  # fmt: skip
    return ref


def test_ticks_store_snapshots_drift_reports_detections_and_gauges(local: Storage) -> None:
    ref = _shop(local)
    gauges = MemoryGauges()
    add_rule(local, {"name": "num0", "metric": "drift_score:num_0", "comparator": ">=",
                     "threshold": 0.2, "window": "1h"})  # fmt: skip
    add_rule(local, {"name": "stream", "metric": "stream_drift:num_0", "comparator": ">",
                     "threshold": 0, "window": "1h"})  # fmt: skip
    summaries = []
    for minutes in (30, 60, 90, 120):
        task = MonitorTask(local, SETTINGS, gauges=gauges)  # a restarted loop each time
        summaries.append(task.tick(T0 + timedelta(minutes=minutes))["endpoints"]["shop"])
    snaps = read_snapshots(local, "shop", T0, T0 + timedelta(hours=3))
    assert list(snaps[snaps.ref == "*"]["requests"]) == [30, 30, 30, 30]  # tiled, no gaps
    assert local.read_json(cursor_key("shop"))["snapshot_end"].startswith("2026-03-01T02:00")
    reports = read_drift_reports(local, "shop", T0, T0 + timedelta(hours=3))
    assert [r.end for r in reports] == [T0 + timedelta(minutes=m) for m in (30, 60, 90, 120)]
    assert "num_0" not in reports[1].features.drifted_features  # type: ignore[union-attr]
    assert reports[-1].features.drifted_features == ["num_0"]  # type: ignore[union-attr]
    # The references froze from the first window with 200 rows (the second); num_0's shift
    # then moved the target (and the predictions, target + 0.5) with it.
    assert reports[1].target is None and "frozen" in " ".join(reports[1].notes)
    assert reports[-1].target.drifted and reports[-1].prediction.drifted  # type: ignore[union-attr]
    ticks = zip(summaries, (30, 60, 90, 120), strict=True)
    fired = [(a["rule"], m) for s, m in ticks for a in s["alerts"]]
    # Each rule once, when num_0's shift entered the window; at 120 minutes it lasts (dedup).
    assert sorted(fired) == [("num0", 90), ("stream", 90)], fired
    assert any(d["stream"] == "num_0" for s in summaries for d in s["detections"])
    assert gauges.values[("health", "shop", "*")] == 1.0  # one drifted feature: warning
    assert gauges.values[("quality", "shop", ref, "mae")] == pytest.approx(0.5)
    assert gauges.values[("drift", "shop", "num_0", "drifted")] == 1.0


def test_one_broken_endpoint_does_not_stop_the_others(local: Storage) -> None:
    _shop(local)
    local.write_bytes("monitoring/shop/streams.json", b"not json")
    endpoint(local, "other", "shop@1.0.0")
    loop = ControlLoop(local, default_tasks(local, SETTINGS, names=["monitor"]), holder="t")
    status = loop.run_once(T0 + timedelta(hours=1))["monitor"]
    assert status["ok"] and TASKS["monitor"] == "rayops.monitoring.task:MonitorTask"
    summary = status["summary"]["endpoints"]
    assert summary["shop"]["error"].startswith("JSONDecodeError")
    assert summary["other"]["health"]["*"] == "unknown"  # no traffic at all


def test_gauges_are_ray_gauges_when_ray_runs(ray_cluster: object, local: Storage) -> None:
    _shop(local)
    task = MonitorTask(local, SETTINGS)
    assert isinstance(task.gauges, RayGauges) and isinstance(default_gauges(), RayGauges)
    task.tick(T0 + timedelta(hours=2))  # sets the Ray gauges without error
    assert task.gauges.health.info["name"] == "rayops_health"  # type: ignore[union-attr]


def test_cli_status_drift_alerts_and_rules(local: Storage) -> None:
    """The CLI reads the real clock: the traffic is the last 3 hours'."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    _shop(local, start)
    MonitorTask(local, SETTINGS, gauges=MemoryGauges()).tick(start + timedelta(hours=2))
    r = CliRunner()
    s = ["--storage", local.uri]

    def run(*args: str, code: int = 0) -> object:
        res = r.invoke(app, [*args, *s, "--json"])
        assert res.exit_code == code, res.output
        return json.loads(res.stdout) if code == 0 else res.output

    status = run("monitor", "status", "shop", "--window", "1d")
    assert status[0]["versions"]["*"]["requests"] == 120  # type: ignore[index]
    drift = run("monitor", "drift", "shop", "--window", "1d")
    assert drift["ref"] == "shop@1.0.0" and "num_0" in drift["features"]["features"]  # type: ignore[index]
    run("alerts", "rules", "add", "slow", "--metric", "latency_p95_ms", "--comparator", ">",
        "--threshold", "1", "--window", "1d")  # fmt: skip
    listed = run("alerts", "rules", "list")
    assert [x["name"] for x in listed if not x["default"]] == ["slow"]  # type: ignore[union-attr]
    assert {x["name"] for x in listed if x["default"]} >= {"default-accuracy-warning"}  # type: ignore[union-attr]
    run("monitor", "check", "shop")
    alerts = run("alerts", "list", "--since", "1d")
    assert "slow" in [a["rule"] for a in alerts]  # type: ignore[union-attr]
    out = run("alerts", "rules", "add", "x", "--metric", "nope", "--comparator", ">",
              "--threshold", "1", code=2)  # fmt: skip
    assert "Unknown metric 'nope'" in str(out)
    assert "positive" in str(run("monitor", "drift", "shop", "--window", "-1h", code=2))
    assert "No endpoint" in str(run("monitor", "status", "nope", code=3))
    run("alerts", "rules", "remove", "slow")
    assert all(x["default"] for x in run("alerts", "rules", "list"))  # type: ignore[union-attr]
