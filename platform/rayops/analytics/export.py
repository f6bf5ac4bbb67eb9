"""Export an analytics report as JSON (schema-validated) or CSV (one tidy table).

The metrics are the report's task's (``report.task``: MAE, RMSE and accuracy for
regression; log loss, AUC, accuracy, F1, ... for classifiers), in both formats.

**JSON** is :class:`~rayops.analytics.report.AnalyticsReport` as is; its JSON
Schema ships as ``rayops/analytics/schema.json`` (``rayops analytics --schema``
prints it).

**CSV** is one long table with a fixed header, :data:`CSV_COLUMNS`, so a
spreadsheet or ``pandas.read_csv`` opens it without guessing. Each row belongs
to a ``section``:

==============  ==========================================================================
section         one row per ... (columns used)
==============  ==========================================================================
totals          count: requests, rows, labeled, failed_requests, versions (metric, value)
metric          metric (metric, value = over the range, current, previous, baseline,
                target, limit, unit, status, trend, change = trend's relative change,
                detail = baseline source)
version         version × metric and counts (ref, metric, value, status, change = MAE or
                log loss vs the reference on that row, detail = stage)
series          time bucket × version × metric (time = bucket start, ref, metric, value)
route           current route (subject = endpoint, ref, value = weight %, detail = stage)
drift           feature (metric = feature, value = score, limit = threshold, status =
                drifted/ok, detail = method)
drift_series    time bucket × feature (time, metric = feature, value, limit, status)
uncertainty     time bucket × version × figure (time, ref, metric = coverage,
                interval_width, set_size, estimated_*, realized, estimation_error; value;
                target = the served level for coverage; status = broken/ok for coverage)
calibration     classifier version × curve point (ref, metric = before/after, value =
                observed share, baseline = predicted probability, detail = method)
importance      explained hour × version × feature (time, ref, metric = feature, value =
                share, baseline = training share, detail = rows explained)
histogram       feature × bin (metric = feature, detail = bin, value = current share,
                baseline = training share)
timeline        event (time, ref, metric = kind, detail = title and detail)
alert           alert (time, ref, metric, value, limit = threshold, status = severity,
                detail = message)
health          version health (ref, status = state, detail = reasons)
recommendation  recommendation (priority, ref, metric, detail = message)
note            what could not be computed (detail)
==============  ==========================================================================

Times are UTC as ``YYYY-MM-DD HH:MM:SS``; numbers are plain decimals (shares are
fractions, latency milliseconds); empty means no value. Text cells that a
spreadsheet would run as a formula (starting with ``= + - @``) are prefixed with
``'``. Files are written as UTF-8 with a byte-order mark so spreadsheets detect
the encoding.

Example:
    >>> CSV_COLUMNS[:4]
    ['section', 'subject', 'range_start', 'range_end']
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from rayops.analytics.report import AnalyticsReport, report_schema
from rayops.analytics.targets import METRICS
from rayops.errors import InvalidInputError

__all__ = [
    "CSV_COLUMNS",
    "ExportFormat",
    "schema_path",
    "schema_text",
    "to_csv",
    "to_json",
    "write_report",
]

CSV_COLUMNS = [
    "section", "subject", "range_start", "range_end", "ref", "metric", "time", "value",
    "current", "previous", "baseline", "target", "limit", "unit", "status", "trend", "change",
    "priority", "detail",
]  # fmt: skip
_TEXT = {"subject", "ref", "metric", "detail"}
_COUNTS = ("requests", "rows", "labeled", "failed_requests")
_UNITS = {"traffic_share": "share", "weight": "percent"}


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


def schema_path() -> Path:
    """Where the published JSON Schema of the report lives (package data)."""
    return Path(__file__).with_name("schema.json")


def to_json(report: AnalyticsReport) -> str:
    """The report as indented JSON (validates against :func:`report_schema`)."""
    return report.model_dump_json(indent=2) + "\n"


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    text = str(value).replace("\r", " ").replace("\n", " ")
    if column in _TEXT and text[:1] in ("=", "+", "-", "@", "\t"):
        return "'" + text
    return text


def _rows(r: AnalyticsReport) -> list[dict[str, Any]]:
    base = {"subject": r.name, "range_start": r.range.start, "range_end": r.range.end}
    rows: list[dict[str, Any]] = []

    def add(section: str, **cells: Any) -> None:
        rows.append({"section": section, **base, **cells})

    for key, value in r.totals.model_dump().items():
        add("totals", metric=key, value=value)
    for m in r.metrics:
        add(
            "metric",
            metric=m.metric,
            value=m.value,
            current=m.current,
            previous=m.previous,
            baseline=m.baseline,
            target=m.target,
            limit=m.limit,
            unit=m.unit,
            status=m.status,
            trend=m.trend.direction,
            change=m.trend.change,
            detail=m.baseline_source,
        )
    names = [m.metric for m in r.metrics]  # the task's metrics, in the report's order
    for v in r.versions:
        for key in (*_COUNTS, "traffic_share", "weight", *names):
            add(
                "version",
                ref=v.ref,
                metric=key,
                value=getattr(v, key),
                status=v.status,
                unit=METRICS[key].unit if key in METRICS else _UNITS.get(key, ""),
                trend=v.mae_trend if key == v.loss_metric else None,
                change=v.loss_change_vs_reference if key == v.loss_metric else None,
                detail=v.stage,
            )
    for p in r.series:
        for key in (*_COUNTS, *names):
            add("series", ref=p.ref, metric=key, time=p.time, value=getattr(p, key))
    for d in r.deployments:
        for route in d.routes:
            add(
                "route",
                subject=d.endpoint,
                ref=route.ref,
                value=route.weight,
                unit="percent",
                detail=route.stage,
            )
    if r.drift is not None:
        for f in r.drift.features:
            add(
                "drift",
                ref=r.drift.baseline_ref,
                metric=f.feature,
                value=f.score,
                limit=f.threshold,
                status="drifted" if f.drifted else "ok",
                detail=f.method,
            )
        for pt in r.drift.series:
            add(
                "drift_series",
                ref=r.drift.baseline_ref,
                metric=pt.feature,
                time=pt.time,
                value=pt.score,
                limit=pt.threshold,
                status="drifted" if pt.drifted else "ok",
            )
    _uncertainty_rows(r, add)
    for e in r.timeline:
        detail = e.title + (f" ({e.detail})" if e.detail else "")
        add("timeline", ref=e.ref, metric=e.kind, time=e.time, detail=detail)
    for a in r.alerts:
        add(
            "alert",
            ref=a.ref,
            metric=a.metric,
            time=a.time,
            value=a.value,
            limit=a.threshold,
            status=a.severity,
            detail=a.message,
        )
    for h in r.health:
        add("health", ref=h.ref, status=h.state, detail="; ".join(h.reasons))
    for rec in r.recommendations:
        add(
            "recommendation",
            ref=rec.ref,
            metric=rec.metric,
            priority=rec.priority,
            detail=rec.message,
        )
    for note in r.notes:
        add("note", detail=note)
    return rows


_FIGURES = (
    "coverage", "interval_width", "set_size", "estimated_accuracy", "estimated_logloss",
    "estimated_auc", "estimated_mae", "realized", "estimation_error",
)  # fmt: skip


def _uncertainty_rows(r: AnalyticsReport, add: Any) -> None:
    for p in r.uncertainty:
        for key in _FIGURES:
            value = getattr(p, key)
            if value is None:
                continue
            cov = key == "coverage"
            add("uncertainty", ref=p.ref, metric=key, time=p.time, value=value,
                target=p.level if cov else None,
                status=("broken" if p.broken else "ok") if cov else None)  # fmt: skip
    for c in r.calibration:
        for part, xs, ys in (("before", c.predicted_before, c.observed_before),
                             ("after", c.predicted_after, c.observed_after)):  # fmt: skip
            for x, y in zip(xs, ys, strict=False):
                add("calibration", ref=c.ref, metric=part, value=y, baseline=x, detail=c.method)
    for imp in r.importance:
        for pt in imp.series:
            add("importance", ref=imp.ref, metric=pt.feature, time=pt.time, value=pt.share,
                baseline=imp.training.get(pt.feature), detail=str(pt.explained))  # fmt: skip
    for h in r.histograms:
        for label, base, now in zip(h.bins, h.baseline, h.current, strict=True):
            add("histogram", metric=h.feature, detail=label, value=now, baseline=base)


def to_csv(report: AnalyticsReport) -> str:
    """The report as one CSV table with the header :data:`CSV_COLUMNS`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in _rows(report):
        writer.writerow([_cell(c, row.get(c)) for c in CSV_COLUMNS])
    return buf.getvalue()


def write_report(report: AnalyticsReport, fmt: ExportFormat | str, path: str | None) -> str:
    """Render ``report`` as ``fmt``; write it to ``path`` if given. Returns the text."""
    try:
        fmt = ExportFormat(fmt)
    except ValueError:
        raise InvalidInputError(f"Unknown export format {fmt!r}; use json or csv.") from None
    text = to_json(report) if fmt is ExportFormat.JSON else to_csv(report)
    if path is not None:
        encoding = "utf-8-sig" if fmt is ExportFormat.CSV else "utf-8"
        Path(path).write_text(text, encoding=encoding, newline="")
    return text


def schema_text() -> str:
    """The JSON Schema as written to ``schema.json``."""
    return json.dumps(report_schema(), indent=2, sort_keys=True) + "\n"
