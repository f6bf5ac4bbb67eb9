"""JSON and CSV exports parse and follow the documented, published schema."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
from analytics_support import END, Truth
from typer.testing import CliRunner

from rayops.analytics import AnalyticsReport, report_schema
from rayops.analytics.export import CSV_COLUMNS, schema_path, schema_text, to_csv, write_report
from rayops.cli import app
from rayops.errors import InvalidInputError
from rayops.storage import Storage

SECTIONS = {
    "totals", "metric", "version", "series", "route", "drift", "drift_series", "timeline",
    "alert", "health", "recommendation",
}  # fmt: skip


def test_published_schema_is_up_to_date() -> None:
    published = json.loads(schema_path().read_text())
    assert published == report_schema(), "run: rayops analytics --schema > " + str(schema_path())
    assert schema_path().read_text() == schema_text()
    jsonschema.Draft202012Validator.check_schema(published)


def test_json_export_validates_against_the_schema(
    report7d: AnalyticsReport, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    write_report(report7d, "json", str(out))
    doc = json.loads(out.read_text())
    jsonschema.Draft202012Validator(json.loads(schema_path().read_text())).validate(doc)
    assert doc["schema_version"] == 1 and doc["name"] == "shop"
    assert AnalyticsReport.model_validate(doc) == report7d  # round trip, nothing lost
    broken = {**doc, "metrics": [{**doc["metrics"][0], "status": "fine"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, report_schema())


def test_csv_export_is_one_clean_table(report7d: AnalyticsReport, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    write_report(report7d, "csv", str(out))
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets detect UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == CSV_COLUMNS
    assert all(len(r) == len(CSV_COLUMNS) for r in rows)
    frame = pd.read_csv(out, encoding="utf-8-sig", keep_default_na=False)
    assert list(frame.columns) == CSV_COLUMNS
    assert SECTIONS <= set(frame["section"])
    metric = frame[frame["section"] == "metric"].set_index("metric")
    for m in report7d.metrics:
        assert float(metric.loc[m.metric, "value"]) == pytest.approx(m.value)
        assert metric.loc[m.metric, "status"] == m.status.value
        assert metric.loc[m.metric, "trend"] == m.trend.direction.value
    series = frame[frame["section"] == "series"]
    assert len(series) == len(report7d.series) * 11  # 4 counts + 7 metrics per point
    first = report7d.series[0]
    cell = series[(series["ref"] == first.ref) & (series["metric"] == "rows")].iloc[0]
    assert cell["time"] == first.time.strftime("%Y-%m-%d %H:%M:%S")
    assert int(float(cell["value"])) == first.rows
    recs = frame[frame["section"] == "recommendation"]
    assert list(recs["detail"]) == [r.message for r in report7d.recommendations]
    numeric = pd.to_numeric(frame["value"].replace("", None), errors="coerce")
    assert numeric.notna().sum() == (frame["value"] != "").sum()  # every value is a number


def test_csv_text_that_looks_like_a_formula_is_escaped(report7d: AnalyticsReport) -> None:
    from rayops.analytics.report import Recommendation

    evil = Recommendation(priority="medium", title="=HYPERLINK(\"x\")", action="-1+2",
                          message="=HYPERLINK(\"x\"): -1+2")  # fmt: skip
    text = to_csv(report7d.model_copy(update={"recommendations": [evil]}))
    row = next(r for r in csv.reader(io.StringIO(text)) if r[0] == "recommendation")
    assert row[CSV_COLUMNS.index("detail")].startswith("'=HYPERLINK")


def test_cli_exports_json_and_csv(week: tuple[Storage, Truth], tmp_path: Path) -> None:
    storage, _ = week
    runner = CliRunner()
    base = [
        "analytics",
        "shop",
        "--range",
        "7d",
        "--end",
        END.isoformat(),
        "--storage",
        storage.uri,
    ]
    res = runner.invoke(app, [*base, "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    jsonschema.validate(doc, report_schema())
    assert doc["totals"]["requests"] > 0
    out = tmp_path / "shop.csv"
    res = runner.invoke(app, [*base, "--format", "csv", "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8-sig").splitlines()[0] == ",".join(CSV_COLUMNS)
    res = runner.invoke(app, [*base, "--target", "mae=100", "--json"])
    mae = next(m for m in json.loads(res.stdout)["metrics"] if m["metric"] == "mae")
    assert mae["target"] == 100.0 and mae["target_source"] == "settings"
    table = runner.invoke(app, [*base, "--format", "table"])
    assert table.exit_code == 0 and "Recommendations" in table.output
    schema = runner.invoke(app, ["analytics", "--schema"])
    assert json.loads(schema.stdout) == report_schema()
    bad = runner.invoke(app, [*base, "--format", "xml"])
    assert bad.exit_code == 2 and "json or csv" in bad.output
    bad = runner.invoke(app, [*base, "--target", "speed=1"])
    assert bad.exit_code == 2 and "METRIC=VALUE" in bad.output


def test_unknown_format_is_refused(report7d: AnalyticsReport) -> None:
    with pytest.raises(InvalidInputError, match="json or csv"):
        write_report(report7d, "xlsx", None)
