"""The Python SDK: one object for the whole loop.

:class:`Client` holds a storage root (shared with every Ray node and job) and,
optionally, the URL of a running rayops gateway. Storage-side capabilities
(feature sets, tuning, training, the registry, endpoints) work on the root;
``predict`` and ``feedback`` go over HTTP to the gateway, with retries for
connection failures and 502/503/504 answers (both calls are idempotent: a
prediction changes nothing, and repeated feedback for a row keeps the latest).

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

import time
from dataclasses import dataclass
from functools import cached_property
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

    from rayops.features import FeatureStore
    from rayops.registry import Registry
    from rayops.serving import Endpoints
    from rayops.training.finetune import FineTuneResult
    from rayops.training.tune import TuneResult

__all__ = ["Client", "Prediction"]

_RETRY_STATUS = {502, 503, 504}


@dataclass(frozen=True)
class Prediction:
    """One answered predict call."""

    predictions: list[Any]
    model: str
    version: str
    request_id: str

    def frame(self) -> pd.DataFrame:
        """The predictions as a one-column DataFrame (``prediction``)."""
        import pandas as pd

        return pd.DataFrame({"prediction": self.predictions})


class Client:
    """The rayops SDK.

    Args:
        storage: a storage URI or a :class:`~rayops.storage.Storage`; default
            ``RAYOPS_STORAGE``.
        url: base URL of the rayops gateway (``http://127.0.0.1:8000``) for
            ``predict``/``feedback``.
        token: bearer token for the gateway (default ``RAYOPS_API_TOKEN``).
        timeout: seconds per HTTP attempt.
        retries: extra attempts for a failed connection or a 502/503/504 answer.
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
    ) -> TuneResult:
        """Search ``config`` (a YAML path or a SearchSpace) with k-fold CV on Ray Tune.

        ``data`` is a DataFrame or a feature set reference (``"sales@3"``), whose
        entity and event-time columns are left out of the features.
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
    ) -> dict[str, Any]:
        """Train on a feature set (``features="sales@3"``) or a Parquet file (``rayops train``)."""
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
    ) -> Prediction:
        """Predict ``rows`` on ``endpoint``; ``key`` keeps a caller on one version."""
        instances = rows if isinstance(rows, list) else _records(rows)
        body: dict[str, Any] = {"instances": instances}
        if key is not None:
            body["key"] = key
        if version is not None:
            body["version"] = version
        data = self._post(f"/endpoints/{endpoint}/predict", body)
        return Prediction(
            predictions=list(data["predictions"]),
            model=str(data.get("model", "")),
            version=str(data.get("version", "")),
            request_id=str(data["request_id"]),
        )

    def feedback(self, endpoint: str, request_id: str, actuals: list[float]) -> None:
        """Send the actual values of a prediction's rows; returns once they are stored."""
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

        from rayops.serving.errors import NotReadyError

        if self.url is None:
            raise InvalidInputError("This client has no gateway URL: pass url='http://host:port'.")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        last: str = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(2.0, 0.1 * 2**attempt))
            try:
                response = requests.request(
                    method, self.url + path, json=body, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as e:
                last = f"cannot reach {self.url} ({type(e).__name__})"
                continue
            if response.status_code in _RETRY_STATUS:
                last = f"{self.url} answered {response.status_code}: {_message(response)}"
                continue
            if response.status_code >= 400:
                raise _error_for(response)
            return response.json() if response.content else {}
        raise NotReadyError(
            f"The rayops gateway did not answer after {self.retries + 1} attempts: {last}."
        )


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
