"""Ready-to-use predictors returned by :meth:`Registry.load`.

A :class:`Predictor` wraps one XGBoost booster and the feature list from its card;
an :class:`EnsemblePredictor` combines member predictors as its
:class:`~rayops.registry.card.EnsembleSpec` says. Both take a pandas DataFrame
(extra columns are ignored, missing ones are an error) and return a 1-D numpy
array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rayops.errors import InvalidInputError
from rayops.registry.card import EnsembleSpec

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import xgboost as xgb

__all__ = ["EnsemblePredictor", "Predictor"]


class Predictor:
    """One booster and the features it was trained on.

    Attributes:
        ref: ``name@version`` it was loaded from.
        booster: the ``xgboost.Booster``.
        features: input columns, in training order.
        feature_types: XGBoost feature types (``"float"``, ``"int"``, ``"c"``...), if known.
    """

    def __init__(
        self,
        ref: str,
        booster: xgb.Booster,
        features: Sequence[str],
        feature_types: Sequence[str] | None = None,
        nthread: int | None = None,
    ) -> None:
        self.ref = ref
        self.booster = booster
        self.features: list[str] = list(features)
        self.feature_types = list(feature_types) if feature_types is not None else None
        self.nthread = nthread

    def _matrix(self, frame: pd.DataFrame) -> Any:
        import xgboost as xgb

        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise InvalidInputError(
                f"{self.ref} needs columns {missing} that the data does not have; "
                f"it was trained on {self.features}."
            )
        x = frame[self.features] if self.features else frame
        return xgb.DMatrix(x, enable_categorical=True, nthread=self.nthread or 0)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predictions for every row of ``frame`` as a 1-D float array."""
        import numpy as np

        out = self.booster.predict(self._matrix(frame))
        return np.asarray(out, dtype=np.float64).reshape(len(frame), -1)[:, 0]

    def __repr__(self) -> str:
        return f"Predictor({self.ref!r}, features={len(self.features)})"


class EnsemblePredictor:
    """Members' predictions combined by an :class:`EnsembleSpec`.

    Attributes:
        ref: ``name@version`` of the ensemble.
        spec: the ensemble definition.
        members: member predictors, in ``spec.members`` order.
        meta: the meta-learner of a stacked ensemble (else None).
        features: union of the members' features, in first-seen order.
    """

    def __init__(
        self,
        ref: str,
        spec: EnsembleSpec,
        members: Sequence[Predictor | EnsemblePredictor],
        meta: Predictor | None = None,
    ) -> None:
        self.ref = ref
        self.spec = spec
        self.members = list(members)
        self.meta = meta
        seen: dict[str, None] = {}
        for m in self.members:
            seen.update(dict.fromkeys(m.features))
        self.features: list[str] = list(seen)

    def member_predictions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One column per member (named by its ``name@version``), one row per input row."""
        import pandas as pd

        return pd.DataFrame(
            {ref: m.predict(frame) for ref, m in zip(self.spec.members, self.members, strict=True)},
            index=frame.index,
        )

    @property
    def targets(self) -> list[str] | None:
        """The targets of a multi_target ensemble (None for a single target)."""
        return list(self.spec.targets) if self.spec.targets else None

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Combine the members: meta model (stacked), the primary target's member
        (multi_target) or the weighted mean (weighted; dynamic and voting, which
        adapt to recent errors only when served)."""
        import numpy as np

        if self.spec.kind == "multi_target":
            return self.members[0].predict(frame)
        preds = self.member_predictions(frame)
        if self.spec.kind == "stacked":
            assert self.meta is not None
            return self.meta.predict(preds)
        weights = np.asarray(self.spec.normalized_weights(), dtype=np.float64)
        return np.asarray(preds.to_numpy(dtype=np.float64) @ weights, dtype=np.float64)

    def predict_targets(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Every target's predictions (a single-target ensemble: its one output,
        named ``prediction``)."""
        if self.spec.targets is None:
            return {"prediction": self.predict(frame)}
        return {t: m.predict(frame) for t, m in zip(self.spec.targets, self.members, strict=True)}

    def __repr__(self) -> str:
        return (
            f"EnsemblePredictor({self.ref!r}, kind={self.spec.kind!r}, members={self.spec.members})"
        )
