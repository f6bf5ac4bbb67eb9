"""Performance before labels (issue 25): estimated metrics on live logged traffic per window,
next to the realized ones once labels land, with the estimation error; the early-warning
rule fires on unlabeled traffic."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sklearn.metrics import accuracy_score
from uncertainty_support import (
    T0,
    binary_model,
    binary_rows,
    log_binary,
    log_regression,
    regression_model,
    regression_rows,
)

from rayops.config import Settings
from rayops.monitoring.alerting import Alerter
from rayops.monitoring.alerts import default_rules
from rayops.monitoring.view import EndpointView
from rayops.storage import Storage


def _settings(**kw: object) -> Settings:
    return Settings(monitoring_log_lag_s=0, monitoring_aggregates=False, **kw)  # type: ignore[arg-type]


def test_estimated_accuracy_tracks_realized_under_covariate_shift(local: Storage) -> None:
    ref, booster = binary_model(local)
    x, y = binary_rows(4000, 13, shift=1.0)  # x0 moved by one standard deviation
    log_binary(local, "churn", ref, booster, x, y, prefix="c")
    view = EndpointView(local, "churn", T0 + timedelta(hours=2), _settings())
    est = view.value("estimated_accuracy", ref, "2h")
    realized = view.value("accuracy", ref, "2h")
    assert est is not None and realized is not None
    # the realized figure is the served decisions' accuracy, checked independently
    p1 = booster.predict(__import__("xgboost").DMatrix(x))
    assert realized == accuracy_score(y, (p1 >= 0.5).astype(int))
    print(f"estimated accuracy {est:.4f}, realized {realized:.4f}, error {est - realized:+.4f}")
    assert abs(est - realized) <= 0.02
    error = view.value("estimation_error", ref, "2h")
    assert error is not None and abs(error - (est - realized)) < 1e-12
    for metric in ("estimated_auc", "estimated_logloss"):
        assert view.value(metric, ref, "2h") is not None
    realized_auc = view.value("auc", ref, "2h")
    est_auc = view.value("estimated_auc", ref, "2h")
    assert realized_auc is not None and est_auc is not None and abs(est_auc - realized_auc) < 0.05


def test_the_early_warning_fires_before_any_label(local: Storage) -> None:
    ref, booster = binary_model(local)
    x, _ = binary_rows(600, 14)
    log_binary(local, "churn", ref, booster, x, None, prefix="u")  # no feedback at all
    view = EndpointView(local, "churn", T0 + timedelta(hours=1), _settings())
    est = view.value("estimated_accuracy", ref, "1h")
    assert est is not None and view.value("accuracy", ref, "1h") is None
    assert view.value("estimation_error", ref, "1h") is None  # nothing to compare with yet
    rule = "default-estimated-accuracy"
    strict = _settings(monitoring_estimated_accuracy_warning=min(est + 0.05, 1.0))
    lax = _settings(monitoring_estimated_accuracy_warning=max(est - 0.05, 0.0))
    for settings, fires in ((lax, False), (strict, True)):
        rules = [r for r in default_rules(settings) if r.name == rule]
        alerts = Alerter(local, settings, sinks=[]).evaluate(
            EndpointView(local, "churn", T0 + timedelta(hours=1), settings), rules
        )
        assert [a.ref for a in alerts] == ([ref] if fires else [])
    # health: the estimate stands in for the missing realized accuracy, against its limits
    health = EndpointView(local, "churn", T0 + timedelta(hours=1), _settings(
        monitoring_accuracy_warning=min(est + 0.05, 1.0), monitoring_accuracy_critical=0.0,
    )).health("1h")[ref]  # fmt: skip
    (check,) = [c for c in health.checks if c.metric == "estimated_accuracy"]
    assert check.value == est and check.state == "warning" and health.state == "warning"
    calm = EndpointView(local, "churn", T0 + timedelta(hours=1), _settings()).health("1h")[ref]
    assert [c.state for c in calm.checks if c.metric == "estimated_accuracy"] == ["healthy"]


def test_regression_estimated_mae_next_to_realized(local: Storage) -> None:
    ref, booster = regression_model(local)
    rows = regression_rows(2000, 15, a_scale=1.5)  # covariate shift, same noise
    log_regression(local, "prices", ref, booster, rows, start=T0, every_s=10, prefix="r")
    view = EndpointView(local, "prices", T0 + timedelta(hours=1), _settings())
    est, realized = view.value("estimated_mae", ref, "1h"), view.value("mae", ref, "1h")
    assert est is not None and realized is not None
    print(f"estimated MAE {est:.4f}, realized {realized:.4f}")
    assert abs(est - realized) / realized < 0.15
    error = view.value("estimation_error", ref, "1h")
    assert error is not None and np.isclose(error, est - realized)
