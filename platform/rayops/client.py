"""The Python SDK: one object for the whole loop.

:class:`Client` holds a storage root (shared with every Ray node and job) and,
optionally, the URL of a running rayops gateway. Storage-side capabilities
(feature sets, tuning, training, the registry, endpoints, rollouts, monitoring,
analytics, online learning and retraining) work on the root;
``predict`` and ``feedback`` go over HTTP to the gateway on one kept-alive
session (:func:`rayops.http.session`), with retries for connection failures and
500/502/503/504 answers, after 0.2, 0.4, 0.8 s or the answer's ``Retry-After``
(both calls are idempotent: a prediction changes nothing, and repeated feedback
for a row keeps the latest). A 500 is retried because it is what Serve's proxy
answers when the replica handling a request dies mid-request; the gateway itself
never answers bad input with a 5xx (tests/reliability/test_replica_kill.py).
Close the client (or use it as a context manager) to release its connections.

Every failure is a :class:`rayops.RayopsError`; HTTP answers map back to the
same classes the server raised (404 → ``NotFoundError``, 400/422 →
``InvalidInputError``, 401 → ``UnauthorizedError``, 503 → ``NotReadyError``).

Tuning and training need a Ray session: call ``ray.init(address=...)`` first
(the ``rayops`` CLI and the job entry points do this for you).

Example:
    >>> import tempfile
    >>> client = Client(tempfile.mkdtemp())
    >>> client.features.list()
    []
    >>> client.registry.list()
    []
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rayops.config import Settings
from rayops.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RayopsError,
)
from rayops.storage import Storage, open_storage

if TYPE_CHECKING:
    import pandas as pd
    import requests

    from rayops.analytics import AnalyticsReport
    from rayops.automation.retrainer import Retrainer
    from rayops.features import FeatureStore
    from rayops.monitoring import Monitor
    from rayops.online import OnlineLearner
    from rayops.registry import Registry
    from rayops.rollout import Rollout, Rollouts
    from rayops.serving import Endpoints
    from rayops.training.finetune import FineTuneResult
    from rayops.training.tune import TuneResult

__all__ = ["Client", "Prediction"]

#: Every call this client makes to the gateway is idempotent, its POSTs included
#: (predict and feedback: see the module docstring), so all of them are retried.
_IDEMPOTENT = frozenset({"GET", "POST"})


@dataclass(frozen=True)
class Prediction:
    """One answered predict call.

    ``predictions`` is a list (one value per row: numbers for regression, labels as in
    training for a classifier), or for a multi-target endpoint a dict of such lists
    keyed by target. A classifier's answer also has ``classes`` and ``probabilities``
    (one row of class probabilities per row, in ``classes`` order; ``calibration``
    names the calibration applied to them, None when they are the model's own).

    When asked: ``lower``/``upper`` (a regression interval per row, at coverage
    ``interval``), ``prediction_sets`` (a classifier's conformal set of classes per
    row, at level ``prediction_set``) and ``explanations`` (see
    :meth:`Client.explain`).
    """

    predictions: list[Any] | dict[str, list[Any]]
    model: str
    version: str
    request_id: str
    classes: list[Any] | None = None
    probabilities: list[list[float]] | None = None
    calibration: str | None = None
    interval: float | None = None
    lower: list[float] | None = None
    upper: list[float] | None = None
    prediction_set: float | None = None
    prediction_sets: list[list[Any]] | None = None
    explanations: dict[str, Any] | None = None

    def frame(self) -> pd.DataFrame:
        """The predictions as a DataFrame: ``prediction``, or one column per target; a
        classifier adds ``p_<class>`` columns."""
        import pandas as pd

        if isinstance(self.predictions, dict):
            return pd.DataFrame(self.predictions)
        out = pd.DataFrame({"prediction": self.predictions})
        if self.classes is not None and self.probabilities is not None:
            for j, c in enumerate(self.classes):
                out[f"p_{c}"] = [row[j] for row in self.probabilities]
        if self.lower is not None and self.upper is not None:
            out["lower"], out["upper"] = self.lower, self.upper
        if self.prediction_sets is not None:
            out["prediction_set"] = self.prediction_sets
        return out

    def contributions(self) -> pd.DataFrame:
        """The explanations as a long DataFrame: ``row``, (``class``,) ``feature``,
        ``contribution``, with the bias as feature ``bias`` (margin space)."""
        import pandas as pd

        if self.explanations is None:
            raise InvalidInputError("This prediction has no explanations; ask explain=True.")
        records: list[dict[str, Any]] = []
        for i, row in enumerate(self.explanations["rows"]):
            sets = row if "bias" not in row else {None: row}
            for cls, one in sets.items():
                head = {"row": i} if cls is None else {"row": i, "class": cls}
                for f, v in one["contributions"].items():
                    records.append({**head, "feature": f, "contribution": v})
                records.append({**head, "feature": "bias", "contribution": one["bias"]})
        return pd.DataFrame(records)


class Client:
    """The rayops SDK.

    Args:
        storage: a storage URI or a :class:`~rayops.storage.Storage`; default
            ``RAYOPS_STORAGE``.
        url: base URL of the rayops gateway (``http://127.0.0.1:8000``) for
            ``predict``/``feedback``.
        token: bearer token for the gateway (default ``RAYOPS_API_TOKEN``).
        timeout: seconds per HTTP attempt.
        retries: extra attempts for a failed connection or a 500/502/503/504 answer.

    Example:
        >>> with Client(url="http://127.0.0.1:8000") as client:  # doctest: +SKIP
        ...     client.predict("churn", [{"tenure": 3, "plan": "pro"}]).predictions
        [0.41]
    """

    def __init__(
        self,
        storage: str | Storage | None = None,
        *,
        url: str | None = None,
        token: str | None = None,
        settings: Settings | None = None,
        timeout: float = 10.0,
        retries: int = 3,
    ) -> None:
        self.settings = settings or Settings()
        self.storage = (
            storage if isinstance(storage, Storage) else open_storage(storage, self.settings)
        )
        self.url = url.rstrip("/") if url else None
        secret = self.settings.api_token
        self.token = token or (secret.get_secret_value() if secret is not None else None)
        self.timeout = timeout
        self.retries = retries

    def __repr__(self) -> str:
        return f"Client(storage={self.storage.uri!r}, url={self.url!r})"

    def close(self) -> None:
        """Close the gateway connections (a later call opens new ones)."""
        http = self.__dict__.pop("_http", None)
        if http is not None:
            http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    @cached_property
    def _http(self) -> requests.Session:
        from rayops.http import session

        return session(retries=self.retries, methods=_IDEMPOTENT)

    # --- storage-side capabilities ---------------------------------------------------------
    @cached_property
    def features(self) -> FeatureStore:
        """The feature store on this root."""
        from rayops.features import FeatureStore

        return FeatureStore(self.storage, settings=self.settings)

    @cached_property
    def registry(self) -> Registry:
        """The model registry on this root."""
        from rayops.registry import Registry

        return Registry(self.storage, settings=self.settings)

    @cached_property
    def endpoints(self) -> Endpoints:
        """Serving endpoints and their routing tables on this root."""
        from rayops.serving import Endpoints

        return Endpoints(self.storage, registry=self.registry, settings=self.settings)

    @cached_property
    def rollouts(self) -> Rollouts:
        """Rollouts (full, canary, A/B, shadow), promotion and rollback on this root."""
        from rayops.rollout import Rollouts

        return Rollouts(self.storage, registry=self.registry, settings=self.settings)

    @cached_property
    def monitor(self) -> Monitor:
        """Metrics, drift, health and alerts of the endpoints on this root."""
        from rayops.control.tasks import alert_actions
        from rayops.monitoring import Monitor

        return Monitor(
            self.storage, settings=self.settings, actions=alert_actions(self.storage, self.settings)
        )

    @cached_property
    def online(self) -> OnlineLearner:
        """Online learning: enable, configure, status and the update log per endpoint."""
        from rayops.online import OnlineLearner

        return OnlineLearner(self.storage, settings=self.settings)

    @cached_property
    def retraining(self) -> Retrainer:
        """Retrain policies, schedules, trigger checks and retrain jobs."""
        from rayops.automation.retrainer import Retrainer

        return Retrainer(self.storage, settings=self.settings)

    def deploy(self, endpoint: str, model: str, **options: Any) -> Rollout:
        """Roll ``model`` (``name@version``) out on ``endpoint``; see :meth:`Rollouts.deploy`.

        Example:
            >>> client.deploy("churn", "churn@1.3.0", strategy="canary",  # doctest: +SKIP
            ...               steps="5,25,50,100", interval="60s")
        """
        return self.rollouts.deploy(endpoint, model, **options)

    def rollback(
        self, endpoint: str, *, to: str | None = None, reason: str | None = None
    ) -> Rollout:
        """Put 100% of ``endpoint``'s traffic back on its stable version (or ``to``)."""
        return self.rollouts.rollback(endpoint, to=to, reason=reason)

    def analytics(self, endpoint: str, *, range: str = "24h", **options: Any) -> AnalyticsReport:
        """The analytics report of ``endpoint`` over ``range`` (``"1h"``, ``"7d"``...).

        Example:
            >>> report = client.analytics("churn", range="7d")  # doctest: +SKIP
            >>> [r.action for r in report.recommendations]  # doctest: +SKIP
        """
        from rayops.analytics import analyze

        return analyze(self.storage, endpoint, range=range, settings=self.settings, **options)

    def tune(
        self,
        data: pd.DataFrame | str,
        *,
        target: str,
        config: str | Any,
        register: str | None = None,
        folds: int | None = None,
        exclude: tuple[str, ...] = (),
        select_features: bool = False,
        task: str = "auto",
        metric: str | None = None,
    ) -> TuneResult:
        """Search ``config`` (a YAML path or a SearchSpace) with k-fold CV on Ray Tune.

        ``data`` is a DataFrame or a feature set reference (``"sales@3"``), whose
        entity and event-time columns are left out of the features. ``task`` is
        ``auto``, ``regression``, ``binary`` or ``multiclass`` (``rayops tune --task``).
        """
        from rayops.training.sources import from_feature_set
        from rayops.training.spaces import SearchSpace, load_space
        from rayops.training.tune import run_tune

        _require_ray()
        space = config if isinstance(config, SearchSpace) else load_space(str(config))
        lineage = None
        if isinstance(data, str):
            source = from_feature_set(self.storage, data)
            data, exclude, lineage = source.frame, (*source.exclude, *exclude), source.lineage
            task = source.task_for(task, target) or task
        return run_tune(
            data,
            target=target,
            space=space,
            storage=self.storage,
            exclude=exclude,
            folds=folds,
            select_features=select_features,
            register=register,
            lineage=lineage,
            settings=self.settings,
            task=task,
            metric=metric,
        )

    def train(
        self,
        *,
        target: str | None = None,
        features: str | None = None,
        data: str | None = None,
        params: dict[str, Any] | None = None,
        rounds: int = 100,
        workers: int | None = None,
        register: str | None = None,
        task: str = "auto",
    ) -> dict[str, Any]:
        """Train on a feature set (``features="sales@3"``) or a Parquet file (``rayops train``);
        ``task`` as ``rayops train --task``."""
        from rayops.training.pipeline import run_training

        _require_ray()
        return run_training(
            self.storage,
            target=target,
            features=features,
            data=data,
            params=params,
            num_boost_round=rounds,
            workers=workers,
            register=register,
            settings=self.settings,
            task=task,
        )

    def fine_tune(
        self, ref: str, frame: pd.DataFrame, target: str, **options: Any
    ) -> FineTuneResult:
        """Fine-tune ``ref`` on ``frame`` behind the validation gate (see ``rayops.fine_tune``)."""
        from rayops.training.finetune import fine_tune

        _require_ray()
        return fine_tune(self.storage, ref, frame, target, settings=self.settings, **options)

    # --- the gateway over HTTP -------------------------------------------------------------
    def predict(
        self,
        endpoint: str,
        rows: pd.DataFrame | list[dict[str, Any]],
        *,
        key: str | None = None,
        version: str | None = None,
        targets: list[str] | None = None,
        interval: float | None = None,
        prediction_set: float | None = None,
        explain: bool = False,
        top_k: int | None = None,
        approx: bool = False,
        calibrate: bool = True,
    ) -> Prediction:
        """Predict ``rows`` on ``endpoint``; ``key`` keeps a caller on one version;
        ``targets`` picks some targets of a multi-target endpoint.

        ``interval=0.9`` adds a regression model's conformal ``lower``/``upper`` per row,
        ``prediction_set=0.9`` a classifier's conformal set of classes per row;
        ``explain`` (``top_k``, ``approx``) adds contributions; ``calibrate=False`` asks
        for the model's own probabilities instead of calibrated ones.

        Example:
            >>> client.predict("demand", rows, interval=0.9).lower  # doctest: +SKIP
            [41.3, 57.0]
        """
        instances = rows if isinstance(rows, list) else _records(rows)
        body: dict[str, Any] = {"instances": instances}
        given = {
            "key": key, "version": version, "targets": targets, "interval": interval,
            "prediction_set": prediction_set, "top_k": top_k,
        }  # fmt: skip
        body.update({k: v for k, v in given.items() if v is not None})
        if explain or top_k is not None:
            body["explain"] = True
        if approx:
            body["approx"] = True
        if not calibrate:
            body["calibrate"] = False
        data = self._post(f"/endpoints/{endpoint}/predict", body)
        answer = data["predictions"]
        return Prediction(
            predictions={t: list(v) for t, v in answer.items()}
            if isinstance(answer, dict)
            else list(answer),
            model=str(data.get("model", "")),
            version=str(data.get("version", "")),
            request_id=str(data["request_id"]),
            classes=data.get("classes"),
            probabilities=data.get("probabilities"),
            calibration=data.get("calibration"),
            interval=data.get("interval"),
            lower=data.get("lower"),
            upper=data.get("upper"),
            prediction_set=data.get("prediction_set"),
            prediction_sets=data.get("prediction_sets"),
            explanations=data.get("explanations"),
        )

    def explain(
        self,
        endpoint: str,
        rows: pd.DataFrame | list[dict[str, Any]],
        *,
        top_k: int | None = None,
        approx: bool = False,
        version: str | None = None,
        key: str | None = None,
    ) -> Prediction:
        """Predict and explain ``rows``: the answer's ``explanations`` holds, per row, the
        bias and each feature's contribution in margin space (``top_k``: only the largest);
        ``Prediction.contributions()`` gives them as a DataFrame.

        Example:
            >>> e = client.explain("churn", rows, top_k=3).explanations  # doctest: +SKIP
            >>> e["link"], e["rows"][0]["contributions"]  # doctest: +SKIP
            ('logit', {'tenure': -1.2, 'plan': 0.4, 'calls': 0.3})
        """
        return self.predict(
            endpoint, rows, key=key, version=version, explain=True, top_k=top_k, approx=approx
        )

    def feedback(
        self, endpoint: str, request_id: str, actuals: list[Any] | dict[str, list[float]]
    ) -> None:
        """Send the actual values of a prediction's rows: numbers, or labels as in training
        for a classifier (a dict per target for a multi-target endpoint); returns once
        they are stored."""
        self._post(
            f"/endpoints/{endpoint}/feedback", {"request_id": request_id, "actuals": actuals}
        )

    def endpoint_status(self, endpoint: str) -> dict[str, Any]:
        """The gateway's view of ``endpoint``: routing table and load status."""
        result: dict[str, Any] = self._request("GET", f"/endpoints/{endpoint}", None)
        return result

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", path, body)
        return result

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        import requests

        from rayops.http import RETRY_STATUS
        from rayops.serving.errors import NotReadyError

        if self.url is None:
            raise InvalidInputError("This client has no gateway URL: pass url='http://host:port'.")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        attempts = f"The rayops gateway did not answer after {self.retries + 1} attempts"
        try:  # the session retries (rayops.http): what comes back is the last attempt's
            response = self._http.request(
                method, self.url + path, json=body, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as e:
            reason = f"cannot reach {self.url} ({type(e).__name__})"
            raise NotReadyError(f"{attempts}: {reason}.") from None
        if response.status_code in RETRY_STATUS:
            raise NotReadyError(
                f"{attempts}: {self.url} answered {response.status_code}: "
                f"{_message(response).rstrip('.')}."
            )
        if response.status_code >= 400:
            raise _error_for(response)
        return response.json() if response.content else {}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    import json

    # pandas' JSON writer turns NaN into null and numpy scalars into plain numbers.
    records: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
    return records


def _message(response: Any) -> str:
    try:
        return str(response.json().get("error") or response.text)
    except ValueError:
        return str(response.text)[:500]


def _error_for(response: Any) -> RayopsError:
    from rayops.serving.errors import (
        InvalidFeatureError,
        NotReadyError,
        PayloadTooLargeError,
        UnauthorizedError,
        UnsupportedMediaTypeError,
    )

    kinds: dict[int, type[RayopsError]] = {
        400: InvalidInputError,
        401: UnauthorizedError,
        404: NotFoundError,
        409: ConflictError,
        413: PayloadTooLargeError,
        415: UnsupportedMediaTypeError,
        422: InvalidFeatureError,
        503: NotReadyError,
    }
    kind = kinds.get(response.status_code, RayopsError)
    return kind(_message(response))


def _require_ray() -> None:
    import ray

    if not ray.is_initialized():
        raise InvalidInputError(
            "Tuning and training run on Ray: call ray.init(address=...) first "
            "(the rayops CLI and job entry points do this for you)."
        )
