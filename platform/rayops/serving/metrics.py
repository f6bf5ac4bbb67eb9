"""Prometheus metrics of the gateway, through Ray Serve's metrics API.

Exported by every Ray node's metrics agent (scrape it as any Ray metric); Serve
adds the deployment, replica and application tags itself:

* ``rayops_serving_requests`` (counter): requests by endpoint, version and protocol.
* ``rayops_serving_rows`` (counter): predicted rows by endpoint and version.
* ``rayops_serving_errors`` (counter): error answers by endpoint and HTTP status.
* ``rayops_serving_latency_ms`` (histogram): routing + validation + prediction time.
"""

from __future__ import annotations

from typing import Any

from rayops.errors import InvalidNameError
from rayops.names import validate_name

__all__ = ["GatewayMetrics"]

LATENCY_BOUNDARIES_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]


class GatewayMetrics:
    """The gateway's metric objects; create it inside a Serve replica."""

    def __init__(self) -> None:
        from ray.serve import metrics

        # Ray annotates tag_keys as tuple[str] (one element); any length works.
        by_version: Any = ("endpoint", "version")
        by_protocol: Any = ("endpoint", "version", "protocol")
        by_status: Any = ("endpoint", "status")

        self._requests = metrics.Counter(
            "rayops_serving_requests",
            description="Predict/infer requests answered, by endpoint, version and protocol.",
            tag_keys=by_protocol,
        )
        self._rows = metrics.Counter(
            "rayops_serving_rows",
            description="Rows predicted, by endpoint and version.",
            tag_keys=by_version,
        )
        self._errors = metrics.Counter(
            "rayops_serving_errors",
            description="Error answers, by endpoint and HTTP status.",
            tag_keys=by_status,
        )
        self._latency = metrics.Histogram(
            "rayops_serving_latency_ms",
            description="Time to route, validate and predict one request, in milliseconds.",
            boundaries=LATENCY_BOUNDARIES_MS,
            tag_keys=by_version,
        )

    def answered(
        self, endpoint: str, version: str, protocol: str, rows: int, latency_ms: float
    ) -> None:
        self._requests.inc(tags={"endpoint": endpoint, "version": version, "protocol": protocol})
        self._rows.inc(rows, tags={"endpoint": endpoint, "version": version})
        self._latency.observe(latency_ms, tags={"endpoint": endpoint, "version": version})

    def failed(self, endpoint: str, status: int) -> None:
        # ``endpoint`` comes from the request path, so it can be any text; Ray's tags must
        # be ASCII (a non-ASCII name made this a 500, issue 14): invalid names count as "-".
        try:
            validate_name(endpoint)
        except InvalidNameError:
            endpoint = "-"
        self._errors.inc(tags={"endpoint": endpoint, "status": str(status)})
