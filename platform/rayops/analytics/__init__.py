"""Performance analytics and dashboards: trends, breakdowns, version comparisons,
recommendations, JSON/CSV export, a terminal dashboard and a web dashboard.

* :func:`analyze` — the :class:`AnalyticsReport` of an endpoint (or a model) over a range.
* :mod:`~rayops.analytics.trends` — improving / declining / stable, robust to noise.
* :mod:`~rayops.analytics.export` — JSON (with a published JSON Schema) and CSV.
* :mod:`~rayops.analytics.terminal` — ``rayops dashboard`` (rich).
* :mod:`~rayops.analytics.web` — ``/dashboard`` on the Serve gateway.

Importing this package is cheap: pandas, scipy and pyarrow load inside the functions.

Example:
    >>> from rayops.analytics import Trend, report_schema
    >>> Trend("declining") is Trend.DECLINING, report_schema()["$id"]
    (True, 'urn:rayops:analytics-report:1')
"""

from __future__ import annotations

from rayops.analytics.analytics import analyze
from rayops.analytics.report import AnalyticsReport, MetricStatus, Priority, report_schema
from rayops.analytics.trends import Trend, classify_trend

__all__ = [
    "AnalyticsReport",
    "MetricStatus",
    "Priority",
    "Trend",
    "analyze",
    "classify_trend",
    "report_schema",
]
