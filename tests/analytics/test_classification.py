"""A classifier's analytics: the task decides the metrics (checked against scikit-learn on
the logged rows), the baselines and targets come from its card, the wording of the
recommendations, the JSON Schema, the CSV export and the terminal dashboard cover them;
regression's tolerance is derived from its card by default."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
from analytics_support import END, Truth, write_classifier
from rich.console import Console
from sklearn import metrics as skm

from rayops.analytics import analyze
from rayops.analytics.export import schema_path, to_csv, to_json
from rayops.analytics.terminal import render_overview, render_report
from rayops.config import Settings
from rayops.registry import Registry
from rayops.storage import Storage, open_storage


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Storage, pd.DataFrame]:
    storage = open_storage(str(tmp_path_factory.mktemp("analytics-clinic") / "root"))
    return storage, write_classifier(storage, "clinic", END)


def test_the_task_decides_the_metrics_and_they_match_sklearn(
    clinic: tuple[Storage, pd.DataFrame],
) -> None:
    storage, truth = clinic
    r = analyze(storage, "clinic", range="24h", end=END)
    assert r.task == "binary" and r.classes == ["malignant", "benign"]
    names = [m.metric for m in r.metrics]
    assert names[:4] == ["logloss", "auc", "accuracy", "f1"] and "mae" not in names
    y = (truth["actual_label"] == "benign").astype(int)
    p = truth["p_benign"].to_numpy()
    expected = {
        "logloss": skm.log_loss(y, pd.DataFrame({"a": 1 - p, "b": p}).to_numpy()),
        "auc": skm.roc_auc_score(y, p),
        "accuracy": skm.accuracy_score(y, p >= 0.5),
        "f1": skm.f1_score(y, p >= 0.5),
        "brier": skm.brier_score_loss(y, p),
    }
    for name, value in expected.items():
        assert r.metric(name).value == pytest.approx(value), name  # type: ignore[union-attr]
    (v,) = r.versions
    assert v.auc == pytest.approx(expected["auc"]) and v.mae is None
    assert v.loss_metric == "logloss"
    # baselines and targets from the card: AUC's target is 10% below the holdout AUC
    card = Registry(storage).get(v.ref).card.metrics["holdout"]
    auc = r.metric("auc")
    assert (
        auc and auc.baseline == pytest.approx(card["auc"]) and auc.baseline_source == "model_card"
    )
    assert auc.target == pytest.approx(card["auc"] * 0.9)
    assert auc.limit == pytest.approx(card["auc"] * 0.8)
    logloss = r.metric("logloss")
    assert logloss and logloss.target == pytest.approx(card["logloss"] * 1.1)
    points = [pt for pt in r.series if pt.ref == v.ref]
    assert sum(pt.labeled for pt in points) == len(truth)
    assert all(pt.auc is None or 0 <= pt.auc <= 1 for pt in points)
    assert r.settings.accuracy_tolerance is None


def test_recommendations_speak_the_tasks_language(clinic: tuple[Storage, pd.DataFrame]) -> None:
    storage, _ = clinic
    strict = Settings(monitoring_auc_warning=0.999, monitoring_auc_critical=0.998)
    r = analyze(storage, "clinic", range="24h", end=END, settings=strict)
    quality = [rec for rec in r.recommendations if rec.metric in ("auc", "logloss", "accuracy")]
    assert quality and "ROC AUC" in quality[0].title
    assert "MAE" not in " ".join(rec.message for rec in r.recommendations)


def test_schema_csv_and_terminal_cover_classification(
    clinic: tuple[Storage, pd.DataFrame],
) -> None:
    storage, _ = clinic
    r = analyze(storage, "clinic", range="24h", end=END)
    schema = json.loads(schema_path().read_text())
    jsonschema.validate(json.loads(to_json(r)), schema)
    table = pd.read_csv(io.StringIO(to_csv(r)))
    metric_rows = table[table["section"] == "metric"]
    assert {"logloss", "auc", "f1", "ece"} <= set(metric_rows["metric"])
    version_auc = table[(table["section"] == "version") & (table["metric"] == "auc")]
    assert version_auc["value"].iloc[0] == pytest.approx(r.versions[0].auc)
    assert not (table["metric"] == "mae").any()
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(render_report(r))
    console.print(render_overview([r]))
    text = console.export_text()
    assert "Log loss" in text and "ROC AUC" in text and "binary" in text
    assert "AUC" in text.split("Versions and traffic split")[1]


def test_regression_tolerance_is_derived_from_the_card_by_default(
    week: tuple[Storage, Truth],
) -> None:
    storage = week[0]
    r = analyze(storage, "shop", range="7d", end=END)
    reference = next(v for v in r.versions if v.reference)
    mae = Registry(storage).get(reference.ref).card.metrics["holdout"]["mae"]
    assert r.settings.accuracy_tolerance == pytest.approx(2 * mae)
    fixed = analyze(storage, "shop", range="7d", end=END,
                    settings=Settings(monitoring_accuracy_tolerance=5.0))  # fmt: skip
    assert fixed.settings.accuracy_tolerance == 5.0
    assert r.metric("accuracy").value != fixed.metric("accuracy").value  # type: ignore[union-attr]


def test_the_dashboard_report_is_computed_once_and_kept_in_storage(
    clinic: tuple[Storage, pd.DataFrame], tmp_path: Path
) -> None:
    from rayops.analytics.stored import report_key, stored_report

    storage, _ = clinic
    calls: list[int] = []
    now = [1000.0]

    def compute() -> dict[str, object]:
        calls.append(1)
        return analyze(storage, "clinic", range="24h", end=END).model_dump(mode="json")

    settings = Settings(analytics_report_ttl_s=10)
    first = stored_report(storage, "clinic", "24h", compute, settings, clock=lambda: now[0])
    now[0] += 5  # another replica, within the TTL: reads it
    other = open_storage(storage.uri)
    again = stored_report(other, "clinic", "24h", compute, settings, clock=lambda: now[0])
    assert again == first and len(calls) == 1
    assert storage.read_json(report_key("clinic", "24h"))["report"]["task"] == "binary"
    now[0] += 10  # stale: recomputed once
    stored_report(other, "clinic", "24h", compute, settings, clock=lambda: now[0])
    assert len(calls) == 2
