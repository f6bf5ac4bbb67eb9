"""The monitoring SDK: status, drift, health, alerts and alert rules of a storage root.

The ``rayops monitor`` and ``rayops alerts`` commands are thin over :class:`Monitor`.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> mon = Monitor(open_storage(tempfile.mkdtemp()))
    >>> mon.add_rule(name="critical", metric="health", comparator=">=", threshold=2,
    ...              severity="critical").name
    'critical'
    >>> [r.name for r in mon.rules() if not r.default], mon.alerts(since="24h")
    (['critical'], [])
    >>> sum(r.default for r in mon.rules())  # the built-in rules (monitoring_default_rules)
    13
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rayops.clock import utc_now
from rayops.config import Settings, settings_of
from rayops.durations import parse_duration
from rayops.errors import InvalidInputError, NotFoundError
from rayops.monitoring.adaptive import read_level
from rayops.monitoring.alerts import add_rule, effective_rules, list_rules, read_alerts, remove_rule
from rayops.monitoring.checks import read_drift_reports
from rayops.monitoring.health import endpoint_health
from rayops.monitoring.metrics import read_snapshots
from rayops.monitoring.task import MonitorTask
from rayops.monitoring.view import EndpointView
from rayops.serving import Endpoints
from rayops.storage.base import Storage

if TYPE_CHECKING:
    import pandas as pd

    from rayops.monitoring.alerts import Alert, AlertRule
    from rayops.monitoring.checks import DriftCheck
    from rayops.monitoring.health import HealthReport
    from rayops.monitoring.streaming import Detection

__all__ = ["Monitor", "parse_time"]


def parse_time(value: datetime | str | None, now: datetime) -> datetime | None:
    """A UTC time from a datetime, an ISO time or date, or a duration ago (``"24h"``).

    Example:
        >>> t = datetime(2026, 1, 2, tzinfo=UTC)
        >>> parse_time("24h", t).isoformat(), parse_time("2026-01-01", t).isoformat()
        ('2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')
    """

    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            return now - parse_duration(value, what="time")
        except InvalidInputError:
            raise InvalidInputError(
                f"{value!r} is neither a time (2026-01-31 or 2026-01-31T12:00:00Z) nor a "
                "duration ago (24h, 7d)."
            ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class Monitor:
    """Monitoring of every endpoint in one storage root.

    Args:
        storage: the storage root.
        settings: tunables (``monitoring_*``).
        now: the clock; inject one in tests.
        actions: alert action handlers a pass may run (see
            :class:`~rayops.monitoring.alerting.Alerter`); the SDK passes every one.
    """

    def __init__(
        self,
        storage: Storage,
        settings: Settings | None = None,
        now: Callable[[], datetime] | None = None,
        actions: Mapping[str, Any] | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings_of(storage, settings)
        self._now = now or utc_now
        self.actions = dict(actions or {})

    def _view(self, endpoint: str) -> Any:

        return EndpointView(self.storage, endpoint, self._now(), self.settings)

    def endpoints(self) -> list[str]:

        return Endpoints(self.storage, registry=False).list()

    # --- status ----------------------------------------------------------------------
    def status(
        self, endpoint: str | None = None, window: str | None = None
    ) -> list[dict[str, Any]]:
        """Per endpoint (one, or all): each version's metrics and health over ``window``.

        Example:
            >>> mon.status("shop", "24h")[0]["health"]["*"]["state"]  # doctest: +SKIP
            'healthy'
        """

        names = [endpoint] if endpoint is not None else self.endpoints()
        out = []
        for name in names:
            Endpoints(self.storage, registry=False).get(name)  # NotFoundError names the known ones
            view = self._view(name)
            start, end = view.bounds(window)
            health = view.health(window)
            out.append(
                {
                    "endpoint": name,
                    "window": {"start": start.isoformat(), "end": end.isoformat()},
                    "state": health["*"].state.value,
                    "versions": {ref: m.to_dict() for ref, m in view.metrics(window).items()},
                    "health": {ref: r.to_dict() for ref, r in health.items()},
                }
            )
        return out

    def health(self, endpoint: str, window: str | None = None) -> dict[str, HealthReport]:
        """Health of ``endpoint`` and its versions (see :mod:`rayops.monitoring.health`)."""

        return endpoint_health(
            self.storage, endpoint, now=self._now, window=window, settings=self.settings
        )

    def drift(self, endpoint: str, window: str | None = None) -> DriftCheck:
        """Drift of ``endpoint`` over ``window`` now (never freezes references)."""

        check = self._view(endpoint).drift(window or self.settings.monitoring.drift_window)
        if check is None:
            raise NotFoundError(f"No endpoint named {endpoint!r}.")
        result: DriftCheck = check
        return result

    def uncertainty(self, endpoint: str, window: str | None = None) -> dict[str, Any]:
        """Per version over ``window``: coverage at the served level, interval width or set
        size, estimated and realized quality (:mod:`rayops.monitoring.coverage`), the
        adaptive level document (:mod:`rayops.monitoring.adaptive`) and attribution drift
        (:mod:`rayops.monitoring.attribution`).

        Example:
            >>> doc = mon.uncertainty("shop", "24h")  # doctest: +SKIP
            >>> doc["versions"]["shop@1.0.0"]["coverage"]  # doctest: +SKIP
            0.903
        """

        Endpoints(self.storage, registry=False).get(endpoint)  # NotFoundError names the known ones
        view = self._view(endpoint)
        start, end = view.bounds(window)
        versions = {}
        for ref in view.refs(window):
            found = view.uncertainty(ref, window)
            drift = view.attribution(ref, window)
            versions[ref] = {
                **(found.to_dict() if found is not None else {}),
                "adaptive": read_level(self.storage, ref),
                "attribution": drift.to_dict() if drift is not None else None,
            }
        return {
            "endpoint": endpoint,
            "window": {"start": start.isoformat(), "end": end.isoformat()},
            "versions": versions,
        }

    def drift_history(self, endpoint: str, window: str = "24h") -> list[DriftCheck]:
        """Drift checks the control loop stored over ``window``."""

        return read_drift_reports(self.storage, endpoint, *self._view(endpoint).bounds(window))

    def snapshots(self, endpoint: str, window: str = "24h") -> pd.DataFrame:
        """Metric snapshots the control loop stored over ``window`` (one row per version)."""

        return read_snapshots(self.storage, endpoint, *self._view(endpoint).bounds(window))

    def detections(self, endpoint: str, window: str = "24h") -> list[Detection]:
        """Streaming detections stored over ``window``."""
        result: list[Detection] = self._view(endpoint).detections(window)
        return result

    # --- alerts -----------------------------------------------------------------------
    def alerts(
        self,
        endpoint: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> list[Alert]:
        """Stored alerts; ``since``/``until`` take times, ISO strings or durations ago."""

        now = self._now()
        return read_alerts(
            self.storage,
            endpoint=endpoint,
            since=parse_time(since, now),
            until=parse_time(until, now),
        )

    def rules(self, *, defaults: bool = True) -> list[AlertRule]:
        """The stored rules and (with ``defaults``) the built-in ones in force
        (``rule.default``)."""

        if defaults:
            return effective_rules(self.storage, self.settings)
        return list_rules(self.storage)

    def add_rule(
        self,
        rule: AlertRule | dict[str, Any] | None = None,
        *,
        replace: bool = False,
        **fields: Any,
    ) -> AlertRule:
        """Store a rule given as an :class:`AlertRule`, a dict or keyword fields."""

        data = rule if rule is not None else {k: v for k, v in fields.items() if v is not None}
        return add_rule(self.storage, data, replace=replace)

    def remove_rule(self, name: str) -> None:
        remove_rule(self.storage, name)

    # --- one pass ---------------------------------------------------------------------
    def check(self, endpoint: str | None = None) -> dict[str, Any]:
        """Run one monitoring pass now (what the control loop does every interval)."""

        if endpoint is not None:
            Endpoints(self.storage, registry=False).get(endpoint)  # NotFoundError if unknown
        task = MonitorTask(self.storage, self.settings, actions=self.actions)
        now = self._now()
        if endpoint is None:
            return task.tick(now)
        return {"endpoints": {endpoint: task.check(endpoint, now)}}
