"""river's ADWIN, Page-Hinkley and KSWIN with JSON state (never pickle).

* Page-Hinkley and KSWIN are plain Python objects whose whole state is a few
  numbers, the KSWIN window and the state of its ``random.Random`` (625 integers):
  they are written as JSON and restored exactly (bit-for-bit the same decisions
  as a detector that never stopped; tested). This reads river's private
  attributes, so the round trip is tested against the installed river.
* ADWIN keeps its window inside a Rust object whose only serialization is an
  opaque, version-specific binary blob for pickle. Instead, the inputs since its
  last reset (river resets ADWIN on the update after a detection) are kept, up to
  ``monitoring_adwin_replay`` values, and replayed into a fresh ADWIN on load:
  exact while the buffer holds every input since the last reset, and otherwise
  an ADWIN over the most recent ``monitoring_adwin_replay`` inputs.

If a detector's settings change, its stored state is dropped and it starts over.

Example:
    >>> from rayops.config import Settings
    >>> d = make_detector("page_hinkley", Settings(monitoring_ph_threshold=5.0), mode="up")
    >>> [i for i, x in enumerate([0.0] * 40 + [3.0] * 10) if d.update(x)]
    [41]
    >>> restored = Detector.restore(d.state(), Settings(monitoring_ph_threshold=5.0))
    >>> restored.state() == d.state()
    True
"""

from __future__ import annotations

import enum
import logging
import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

from rayops.config import Settings
from rayops.errors import InvalidInputError

__all__ = ["Adwin", "Detector", "DetectorKind", "Kswin", "PageHinkley", "make_detector"]

logger = logging.getLogger(__name__)


class DetectorKind(enum.StrEnum):
    """The streaming detectors rayops runs (all from ``river.drift``)."""

    ADWIN = "adwin"
    PAGE_HINKLEY = "page_hinkley"
    KSWIN = "kswin"


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _inf(v: float | None, default: float) -> float:
    return default if v is None else float(v)


class Detector(ABC):
    """One river detector with JSON state: ``update(x) -> bool`` (drift detected now)."""

    kind: ClassVar[DetectorKind]

    _river: Any  # the river detector

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.n = 0  # inputs seen
        self.detections = 0

    def update(self, x: float) -> bool:
        """Feed one value; True if this value completed a detection."""
        self._river.update(x)
        self.n += 1
        hit = bool(self._river.drift_detected)
        self.detections += hit
        return hit

    @abstractmethod
    def _state(self) -> dict[str, Any]: ...

    @abstractmethod
    def _load(self, state: dict[str, Any]) -> None: ...

    def state(self) -> dict[str, Any]:
        """JSON-ready parameters and internal state."""
        return {
            "kind": self.kind.value,
            "params": self.params,
            "n": self.n,
            "detections": self.detections,
            "state": self._state(),
        }

    @classmethod
    def restore(cls, doc: Mapping[str, Any], settings: Settings) -> Detector:
        """The detector ``doc`` describes; a fresh one if ``settings`` changed its parameters."""
        kind = DetectorKind(doc["kind"])
        mode = doc["params"].get("mode", "both")
        fresh = make_detector(kind, settings, mode=mode)
        if fresh.params != doc["params"]:
            logger.info("Settings of a %s detector changed; it starts over.", kind.value)
            return fresh
        fresh._load(doc["state"])
        fresh.n, fresh.detections = int(doc["n"]), int(doc["detections"])
        return fresh


class Adwin(Detector):
    """ADWIN rebuilt from a replay buffer (its state is not JSON; see the module docstring)."""

    kind = DetectorKind.ADWIN

    def __init__(self, params: dict[str, Any], replay: int) -> None:
        from river.drift import ADWIN

        super().__init__({**params, "replay": replay})
        self._river = ADWIN(delta=params["delta"])  # type: ignore[no-untyped-call]
        self._replay: deque[float] = deque(maxlen=replay)

    def update(self, x: float) -> bool:
        if self._river.drift_detected:  # river resets ADWIN on this update
            self._replay.clear()
        self._replay.append(x)
        return super().update(x)

    def _state(self) -> dict[str, Any]:
        return {"replay": list(self._replay)}

    def _load(self, state: dict[str, Any]) -> None:
        for x in state["replay"]:
            self.update(float(x))


class PageHinkley(Detector):
    """river's PageHinkley with its running mean and cumulative sums as JSON."""

    kind = DetectorKind.PAGE_HINKLEY

    def __init__(self, params: dict[str, Any]) -> None:
        from river.drift import PageHinkley as RiverPH

        super().__init__(params)
        self._river = RiverPH(**params)

    def _state(self) -> dict[str, Any]:
        r = self._river
        return {
            "mean_n": float(r._x_mean.n),
            "mean": float(r._x_mean._mean),
            "sum_increase": r._sum_increase,
            "sum_decrease": r._sum_decrease,
            "min_increase": _num(r._min_increase),
            "max_decrease": _num(r._max_decrease),
            "drift_detected": bool(r._drift_detected),
        }

    def _load(self, state: dict[str, Any]) -> None:
        r = self._river
        r._x_mean.n = state["mean_n"]
        r._x_mean._mean = state["mean"]
        r._sum_increase = state["sum_increase"]
        r._sum_decrease = state["sum_decrease"]
        r._min_increase = _inf(state["min_increase"], math.inf)
        r._max_decrease = _inf(state["max_decrease"], -math.inf)  # type: ignore[assignment]
        r._drift_detected = state["drift_detected"]


class Kswin(Detector):
    """river's KSWIN with its window and random generator state as JSON."""

    kind = DetectorKind.KSWIN

    def __init__(self, params: dict[str, Any]) -> None:
        from river.drift import KSWIN

        super().__init__(params)
        self._river = KSWIN(**params)

    def _state(self) -> dict[str, Any]:
        r = self._river
        version, internal, gauss = r._rng.getstate()
        return {
            "window": list(r.window),
            "n": r.n,
            "p_value": float(r.p_value),
            "drift_detected": bool(r._drift_detected),
            "rng": [version, list(internal), gauss],
        }

    def _load(self, state: dict[str, Any]) -> None:
        r = self._river
        r.window = deque((float(v) for v in state["window"]), maxlen=r.window_size)
        r.n = int(state["n"])
        r.p_value = state["p_value"]
        r._drift_detected = state["drift_detected"]
        version, internal, gauss = state["rng"]
        r._rng.setstate((version, tuple(internal), gauss))


def make_detector(kind: DetectorKind | str, settings: Settings, *, mode: str = "both") -> Detector:
    """A fresh detector of ``kind`` with its parameters from ``settings``.

    ``mode`` is Page-Hinkley's direction: ``"up"`` (increases), ``"down"`` or ``"both"``.
    """
    try:
        kind = DetectorKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in DetectorKind)
        raise InvalidInputError(
            f"Unknown streaming detector {kind!r}; use one of {known}."
        ) from None
    s = settings
    try:
        if kind is DetectorKind.ADWIN:
            return Adwin({"delta": s.monitoring.adwin_delta}, s.monitoring.adwin_replay)
        if kind is DetectorKind.PAGE_HINKLEY:
            return PageHinkley(
                {
                    "min_instances": s.monitoring.ph_min_instances,
                    "delta": s.monitoring.ph_delta,
                    "threshold": s.monitoring.ph_threshold,
                    "mode": mode,
                }
            )
        return Kswin(
            {
                "alpha": s.monitoring.kswin_alpha,
                "window_size": s.monitoring.kswin_window,
                "stat_size": s.monitoring.kswin_stat_size,
                "seed": 0,
            }
        )
    except ValueError as e:  # river checks its parameters (e.g. stat_size < window_size)
        raise InvalidInputError(f"Invalid {kind.value} settings: {e}") from None
