"""The terminal dashboard (``rayops dashboard``): one rich frame per report, refreshed in place.

A frame shows the header (range, traffic, health), every metric with its current
value, baseline, target, status, a trend arrow (the direction of the value,
coloured green when it improves and red when it declines) and a sparkline over
the range; the versions with their traffic split; feature drift; the latest
alerts, events; per version, coverage of its conformal interval or set (a sparkline and
the latest), width, estimated against realized quality and attribution; and the
recommendations. :func:`run_live` redraws it every
``interval`` seconds with :class:`rich.live.Live`.

Example:
    >>> sparkline([1.0, 2.0, None, 4.0])
    '▁▃ █'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rayops.analytics.recommendations import fmt
from rayops.analytics.report import AnalyticsReport, MetricStatus, MetricSummary, Priority
from rayops.analytics.trends import Trend, TrendResult
from rayops.monitoring.metrics import ALL_VERSIONS

__all__ = ["render_overview", "render_report", "run_live", "sparkline"]

_BLOCKS = "▁▂▃▄▅▆▇█"
_STATUS = {
    MetricStatus.OK: "green",
    MetricStatus.WARNING: "yellow",
    MetricStatus.CRITICAL: "bold red",
    MetricStatus.NO_DATA: "dim",
}
_PRIORITY = {
    Priority.CRITICAL: "bold white on red",
    Priority.HIGH: "bold red",
    Priority.MEDIUM: "yellow",
}
_HEALTH = {"healthy": "green", "warning": "yellow", "critical": "bold red"}
_BAR = "█"


def sparkline(values: Sequence[float | None]) -> str:
    """Block characters scaled between the series' min and max (blank: no data)."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    lo, hi = min(known), max(known)
    span = hi - lo or 1.0
    return "".join(" " if v is None else _BLOCKS[min(int((v - lo) / span * 8), 7)] for v in values)


def _trend(t: TrendResult) -> Text:
    if t.direction is Trend.UNKNOWN:
        return Text("·", style="dim")
    arrow = "→" if t.direction is Trend.STABLE else ("↑" if (t.slope_per_day or 0) > 0 else "↓")
    style = {Trend.IMPROVING: "green", Trend.DECLINING: "red"}.get(t.direction, "dim")
    change = f" {t.change:+.0%}" if t.change is not None and t.direction is not Trend.STABLE else ""
    return Text(f"{arrow}{change}", style=style)


def _status(s: MetricStatus) -> Text:
    return Text(s.value.replace("_", " "), style=_STATUS[s])


def _metrics(r: AnalyticsReport) -> Table:
    t = Table(title="Metrics", title_justify="left", expand=True, box=None, padding=(0, 1))
    for col in ("metric", "current", "range", "baseline", "target", "status", "trend", "series"):
        t.add_column(col, justify="right" if col not in ("metric", "status", "series") else "left")
    overall = sorted((p for p in r.series if p.ref == ALL_VERSIONS), key=lambda p: p.time)
    for m in r.metrics:
        spark = sparkline([getattr(p, m.metric) for p in overall])
        t.add_row(
            m.label.split(" (")[0],
            Text(fmt(m.metric, m.current), style="bold"),
            fmt(m.metric, m.value),
            fmt(m.metric, m.baseline),
            fmt(m.metric, m.target) if m.target is not None else "",
            _status(m.status),
            _trend(m.trend),
            Text(spark, style="cyan"),
        )
    return t


#: The quality columns of the versions table and the overview, per task.
_COLUMNS = {
    "regression": (("mae", "MAE"), ("accuracy", "accuracy")),
    "binary": (("logloss", "log loss"), ("auc", "AUC"), ("accuracy", "accuracy")),
    "multiclass": (("logloss", "log loss"), ("macro_f1", "macro F1"), ("accuracy", "accuracy")),
}


def _versions(r: AnalyticsReport) -> Table:
    t = Table(title="Versions and traffic split", title_justify="left", expand=True, box=None)
    t.add_column("version", no_wrap=True, min_width=12)
    quality = _COLUMNS[r.task]
    cols = ("stage", "weight", "", "requests", *(h for _, h in quality), "p95", "errors", "health")
    for col in cols:
        left = col in ("stage", "", "health")
        t.add_column(col, justify="left" if left else "right", no_wrap=True)
    health = {h.ref: h.state for h in r.health}
    for v in sorted(r.versions, key=lambda v: -(v.weight or 0)):
        weight = v.weight or 0
        name = Text(v.ref, style="bold" if v.reference else "")
        if v.shadow:
            name.append(" (shadow)", style="dim")
        t.add_row(
            name,
            v.stage or "",
            f"{weight}%" if v.weight is not None else "—",
            Text(_BAR * round(weight / 10), style="magenta"),
            f"{v.requests:,}",
            *(
                _quality_cell(name, getattr(v, name), v.status, i == 0)
                for i, (name, _) in enumerate(quality)
            ),
            fmt("latency_p95_ms", v.latency_p95_ms),
            fmt("error_rate", v.error_rate),
            Text(health.get(v.ref, "—"), style=_HEALTH.get(health.get(v.ref, ""), "dim")),
        )
    return t


def _quality_cell(name: str, value: float | None, status: MetricStatus, first: bool) -> Text:
    """A version's quality figure; the first (the loss it is compared on) in its status colour."""
    style = (_STATUS[status] if first else "") if value is not None else "dim"
    return Text(fmt(name, value), style=style)


def _drift(r: AnalyticsReport) -> RenderableType:
    if r.drift is None:
        return Text("no drift data (no baseline or no logged features)", style="dim")
    t = Table(title=f"Drift vs {r.drift.baseline_ref}", title_justify="left", box=None)
    for col in ("feature", "score", "threshold", ""):
        t.add_column(col, justify="left" if col in ("feature", "") else "right")
    for f in sorted(r.drift.features, key=lambda f: -f.score / f.threshold)[:8]:
        ratio = min(f.score / f.threshold, 3.0)
        style = "red" if f.drifted else "green"
        t.add_row(f.feature, f"{f.score:.3f}", f"{f.threshold:g} {f.method}",
                  Text(_BAR * max(round(ratio * 4), 1), style=style))  # fmt: skip
    return t


def _uncertainty(r: AnalyticsReport) -> RenderableType | None:
    """Per version: coverage (sparkline and latest), width or set size, estimated against
    realized quality, and the attribution shift with the top features now."""
    refs = sorted({p.ref for p in r.uncertainty} | {i.ref for i in r.importance})
    if not refs:
        return None
    t = Table(title="Uncertainty and attribution", title_justify="left", box=None)
    for col in ("version", "coverage", "", "width/set", "estimated", "realized", "attribution"):
        t.add_column(col, justify="left" if col in ("version", "", "attribution") else "right")
    for ref in refs:
        pts = sorted((p for p in r.uncertainty if p.ref == ref), key=lambda p: p.time)
        last = next((p for p in reversed(pts) if p.coverage is not None), None)
        cov = Text("-", style="dim")
        if last is not None and last.coverage is not None:
            cov = Text(f"{last.coverage:.1%} @{last.level:.0%}",
                       style="bold red" if last.broken else "green")  # fmt: skip
        spread = last.interval_width if last and last.interval_width is not None else None
        size = spread if spread is not None else (last.set_size if last else None)
        est = next((p for p in reversed(pts) if p.estimated_accuracy or p.estimated_mae), None)
        guess = (est.estimated_accuracy or est.estimated_mae) if est else None
        imp = next((i for i in r.importance if i.ref == ref), None)
        attribution = "-"
        if imp is not None:
            top = ", ".join(sorted(imp.current, key=lambda f: -imp.current[f])[:3])
            moved = " (top-k changed)" if imp.rank_changed else ""
            attribution = f"shift {imp.shift:.2f}{moved}: {top}"
        t.add_row(
            ref, cov, sparkline([p.coverage for p in pts]),
            f"{size:.3g}" if size is not None else "-",
            f"{guess:.3g}" if guess is not None else "-",
            f"{est.realized:.3g}" if est and est.realized is not None else "-", attribution,
        )  # fmt: skip
    return t


def _recommendations(r: AnalyticsReport) -> Table:
    recs = Table(title="Recommendations", title_justify="left", box=None, expand=True)
    recs.add_column("priority", no_wrap=True)
    recs.add_column("what to do", ratio=1)
    for rec in r.recommendations[:6]:
        recs.add_row(Text(rec.priority.value, style=_PRIORITY[rec.priority]), rec.message)
    if not r.recommendations:
        recs.add_row(Text("ok", style="green"), "nothing to do")
    return recs


def _events(r: AnalyticsReport) -> Table:
    events = Table(title="Recent alerts and events", title_justify="left", box=None, expand=True)
    events.add_column("time (UTC)", no_wrap=True)
    events.add_column("event", ratio=1)
    for a in r.alerts[:4]:
        events.add_row(f"{a.time:%m-%d %H:%M}", Text(f"[{a.severity}] {a.message}", style="red"))
    latest = [e for d in r.deployments for e in d.last_events][:6]
    for e in latest:
        events.add_row(f"{e.time:%m-%d %H:%M}", f"{e.kind.value}: {e.title}")
    if not r.alerts and not latest:
        events.add_row("", Text("none", style="dim"))
    return events


def _health(r: AnalyticsReport) -> Text:
    order = ["critical", "warning", "healthy"]
    states = [h.state for h in r.health]
    worst = next((s for s in order if s in states), "unknown")
    return Text(worst, style=_HEALTH.get(worst, "dim"))


def render_report(r: AnalyticsReport) -> RenderableType:
    """One dashboard frame of a report."""
    span = f"{r.range.start:%Y-%m-%d %H:%M} → {r.range.end:%Y-%m-%d %H:%M} UTC"
    task = r.task + (f" {'/'.join(r.classes)}" if r.classes and len(r.classes) <= 4 else "")
    title = f"rayops · {r.subject.value} {r.name} ({task}) · {r.range.label or 'range'} ({span})"
    tot = r.totals
    failed = tot.failed_requests / max(tot.requests + tot.failed_requests, 1)
    head = Text.assemble(
        (f"{tot.requests:,}", "bold"), " requests · ", (f"{tot.rows:,}", "bold"), " rows · ",
        (f"{tot.labeled:,}", "bold"), " labeled · ", (f"{failed:.1%}", "bold"), " failed · ",
        (f"{tot.versions}", "bold"), " versions · health: ", _health(r),
        f" · updated {r.generated_at:%H:%M:%S}",
    )  # fmt: skip
    middle = Table.grid(expand=True, padding=(0, 3))
    middle.add_column(ratio=2)
    middle.add_column(ratio=3)
    middle.add_row(_drift(r), _events(r))
    gap = Text("")
    parts: list[RenderableType] = [head, gap, _metrics(r), gap, _versions(r), gap, middle]
    uncertainty = _uncertainty(r)
    if uncertainty is not None:
        parts += [gap, uncertainty]
    body = Group(*parts, gap, _recommendations(r))
    return Panel(body, title=title, title_align="left", border_style="blue")


def _worst(metrics: list[MetricSummary]) -> MetricStatus:
    rank = [MetricStatus.CRITICAL, MetricStatus.WARNING, MetricStatus.OK]
    found = {m.status for m in metrics}
    return next((s for s in rank if s in found), MetricStatus.NO_DATA)


def render_overview(reports: list[AnalyticsReport]) -> RenderableType:
    """Every endpoint in one table (``rayops dashboard`` without an endpoint)."""
    t = Table(title="rayops endpoints", title_justify="left", expand=True)
    for col in (
        "endpoint",
        "task",
        "requests",
        "loss",
        "accuracy",
        "p95",
        "errors",
        "status",
        "top recommendation",
    ):
        t.add_column(col)
    for r in reports:
        m = {x.metric: x for x in r.metrics}
        top = r.recommendations[0] if r.recommendations else None
        loss = "mae" if r.task == "regression" else "logloss"
        t.add_row(
            r.name,
            r.task,
            f"{r.totals.requests:,}",
            Text.assemble(
                f"{_COLUMNS[r.task][0][1]} ", fmt(loss, m[loss].current), " ", _trend(m[loss].trend)
            ),  # fmt: skip
            fmt("accuracy", m["accuracy"].current),
            fmt("latency_p95_ms", m["latency_p95_ms"].current),
            fmt("error_rate", m["error_rate"].current),
            _status(_worst(r.metrics)),
            Text(top.message, style=_PRIORITY[top.priority]) if top else Text("—", style="dim"),
        )
    if not reports:
        t.add_row("no endpoints yet", "", "", "", "", "", "", "", "")
    return t


def run_live(
    fetch: Callable[[], RenderableType],
    *,
    interval: float,
    console: Console,
    frames: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Show ``fetch()`` and redraw it in place every ``interval`` seconds; stop after
    ``frames`` frames (None: until Ctrl-C). Returns the number of frames drawn."""
    from rich.live import Live

    drawn = 0
    with Live(fetch(), console=console, auto_refresh=False, transient=False) as live:
        drawn = 1
        try:
            while frames is None or drawn < frames:
                sleep(interval)
                live.update(fetch(), refresh=True)
                drawn += 1
        except KeyboardInterrupt:
            pass
    return drawn
