"""Importance over time and attribution drift (issue 22): the control loop explains a
bounded sample of logged rows per version and hour, stores mean |contribution|, and the
built-in rules fire when traffic makes another feature dominate the attribution."""

from __future__ import annotations

from datetime import timedelta

from uncertainty_support import T0, log_regression, regression_model, regression_rows

from rayops.config import Settings
from rayops.monitoring.alerting import Alerter
from rayops.monitoring.alerts import default_rules
from rayops.monitoring.attribution import (
    AttributionTask,
    attribution_drift,
    read_attribution,
    training_importance,
)
from rayops.monitoring.view import EndpointView
from rayops.registry.explain import shares
from rayops.storage import Storage

SAMPLE = 50


def test_attribution_moves_from_one_feature_to_another(local: Storage) -> None:
    ref, booster = regression_model(local)
    s = Settings(monitoring_log_lag_s=0, monitoring_explain_sample_rows=SAMPLE)
    # three hours like training (a dominates), then three where a is pinned and b spreads
    like = regression_rows(1080, 40)
    moved = regression_rows(1080, 41, a_scale=0.02, b_scale=4.0)
    log_regression(local, "prices", ref, booster, like, start=T0, every_s=100, prefix="l")
    later = T0 + timedelta(hours=3)
    log_regression(local, "prices", ref, booster, moved, start=later, every_s=100, prefix="m")
    task = AttributionTask(local, s)
    summary = task.tick(T0 + timedelta(hours=6, minutes=5))
    assert len(summary["endpoints"]["prices"]["hours"]) == 6
    records = read_attribution(local, "prices", T0, T0 + timedelta(hours=6), ref)
    assert len(records) == 6
    assert all(r["explained"] == SAMPLE and r["served"] == 360 for r in records)  # bounded
    # the next pass does not explain the same hours again
    assert task.tick(T0 + timedelta(hours=6, minutes=10))["endpoints"]["prices"]["hours"] == []

    trained = shares(training_importance(local, ref))
    assert max(trained, key=trained.__getitem__) == "a"
    before = attribution_drift(local, "prices", ref, T0, later, settings=s)
    after = attribution_drift(local, "prices", ref, later, later + timedelta(hours=3), settings=s)
    assert before is not None and after is not None
    print(f"attribution shift like training {before.shift:.3f}, after the move "
          f"{after.shift:.3f} ({after.feature}); top now {after.top_current}")  # fmt: skip
    assert before.shift < s.monitoring.attribution_threshold and not before.rank_changed
    assert after.shift > s.monitoring.attribution_threshold and after.rank_changed
    assert after.top_current[0] == "b" and after.rows == 3 * SAMPLE

    rules = [r for r in default_rules(s) if r.name.startswith("default-attribution")]
    rules = [r.model_copy(update={"window": "3h"}) for r in rules]
    quiet = Alerter(local, s, sinks=[]).evaluate(EndpointView(local, "prices", later, s), rules)
    assert quiet == []
    view = EndpointView(local, "prices", later + timedelta(hours=3), s)
    fired = Alerter(local, s, sinks=[]).evaluate(view, rules)
    assert sorted(a.rule for a in fired) == ["default-attribution", "default-attribution-rank"]
    assert view.value("attribution_shift", ref, "3h") == after.shift
