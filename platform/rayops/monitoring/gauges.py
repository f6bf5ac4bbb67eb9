"""Prometheus gauges of model quality, drift and health, through Ray's metrics API.

Exported by Ray's metrics agent beside Serve's own metrics (Prometheus adds the
``ray_`` prefix):

* ``rayops_model_quality{endpoint, ref, metric}``: mae, rmse, accuracy,
  latency_p50/p95/p99_ms, error_rate, requests of each version (``ref`` ``*``:
  the endpoint) over the monitoring window;
* ``rayops_drift{endpoint, feature, statistic}``: each feature's drift score and
  flag (``feature`` ``*``: the share of drifted features; ``prediction``,
  ``actual``: prediction and target drift);
* ``rayops_health{endpoint, ref}``: 0 healthy, 1 warning, 2 critical, -1 unknown.

The monitor takes a :class:`Gauges` object: :class:`RayGauges` when Ray is
initialized (:func:`default_gauges`), :class:`MemoryGauges` in tests and
:class:`NoGauges` otherwise.

Example:
    >>> g = MemoryGauges()
    >>> g.set_health("shop", "*", 1)
    >>> g.values[("health", "shop", "*")]
    1.0
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

__all__ = ["Gauges", "MemoryGauges", "NoGauges", "RayGauges", "default_gauges"]


class Gauges(Protocol):
    """Where the monitor reports its latest values."""

    def set_quality(self, endpoint: str, ref: str, metric: str, value: float) -> None: ...

    def set_drift(self, endpoint: str, feature: str, statistic: str, value: float) -> None: ...

    def set_health(self, endpoint: str, ref: str, level: int) -> None: ...


class NoGauges:
    """Discards everything (no Ray, no metrics)."""

    def set_quality(self, endpoint: str, ref: str, metric: str, value: float) -> None:
        pass

    def set_drift(self, endpoint: str, feature: str, statistic: str, value: float) -> None:
        pass

    def set_health(self, endpoint: str, ref: str, level: int) -> None:
        pass


class MemoryGauges:
    """Keeps the last value of every gauge in ``values`` (for tests and the SDK)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, ...], float] = {}

    def set_quality(self, endpoint: str, ref: str, metric: str, value: float) -> None:
        self.values[("quality", endpoint, ref, metric)] = float(value)

    def set_drift(self, endpoint: str, feature: str, statistic: str, value: float) -> None:
        self.values[("drift", endpoint, feature, statistic)] = float(value)

    def set_health(self, endpoint: str, ref: str, level: int) -> None:
        self.values[("health", endpoint, ref)] = float(level)


class RayGauges:
    """``ray.util.metrics.Gauge`` objects (create inside a Ray driver, task or replica)."""

    def __init__(self) -> None:
        from ray.util.metrics import Gauge

        # Ray annotates tag_keys as tuple[str] (one element); any length works.
        quality: Any = ("endpoint", "ref", "metric")
        drift: Any = ("endpoint", "feature", "statistic")
        health: Any = ("endpoint", "ref")
        self.quality = Gauge(
            "rayops_model_quality",
            description="Model quality, latency and traffic over the monitoring window.",
            tag_keys=quality,
        )
        self.drift = Gauge(
            "rayops_drift",
            description="Drift score (or flag) of each feature, the prediction and the target.",
            tag_keys=drift,
        )
        self.health = Gauge(
            "rayops_health",
            description="Health: 0 healthy, 1 warning, 2 critical, -1 unknown.",
            tag_keys=health,
        )

    def set_quality(self, endpoint: str, ref: str, metric: str, value: float) -> None:
        self.quality.set(float(value), tags={"endpoint": endpoint, "ref": ref, "metric": metric})

    def set_drift(self, endpoint: str, feature: str, statistic: str, value: float) -> None:
        tags = {"endpoint": endpoint, "feature": feature, "statistic": statistic}
        self.drift.set(float(value), tags=tags)

    def set_health(self, endpoint: str, ref: str, level: int) -> None:
        self.health.set(float(level), tags={"endpoint": endpoint, "ref": ref})


def default_gauges() -> Gauges:
    """:class:`RayGauges` if this process is connected to Ray, else :class:`NoGauges`.

    Ray is not imported to find out: a process that never imported it is not connected.
    """
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return RayGauges()
    return NoGauges()
