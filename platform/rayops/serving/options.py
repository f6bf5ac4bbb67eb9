"""What a predict request asks for beyond the prediction: explanations, intervals, sets.

The same options in both protocols — JSON predict body fields, or OIP request
``parameters``:

=================  ========  ==========================================================
option             type      meaning
=================  ========  ==========================================================
``explain``        bool      per-row feature contributions and bias, in margin space
``top_k``          int       only the ``top_k`` largest \\|contributions\\| (implies explain)
``approx``         bool      approximate (Saabas) contributions instead of exact TreeSHAP
``interval``       float     regression: conformal ``lower``/``upper`` at this coverage
``prediction_set`` float     classification: the conformal set of classes at this level
``calibrate``      bool      serve calibrated probabilities (default true, when fitted)
=================  ========  ==========================================================

Each is checked here for its type and range (a 422 with a sentence); whether the
model can give it is checked against the loaded version
(:mod:`rayops.serving.confidence`, :mod:`rayops.serving.explaining`).

Example:
    >>> RequestOptions.parse({"explain": True, "top_k": 2}).top_k
    2
    >>> RequestOptions.parse({"explain": "yes"})
    Traceback (most recent call last):
    ...
    rayops.serving.options.InvalidOptionError: 'explain' must be true or false, got 'yes'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rayops.errors import InvalidInputError

__all__ = ["FIELDS", "NONE", "InvalidOptionError", "RequestOptions"]

#: The request fields (JSON) / parameters (OIP) this module reads.
FIELDS = frozenset({"explain", "top_k", "approx", "interval", "prediction_set", "calibrate"})


class InvalidOptionError(InvalidInputError):
    """A request option has the wrong type or range, or the model cannot honour it."""

    http_status = 422


def _flag(name: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidOptionError(f"{name!r} must be true or false, got {value!r}.")
    return value


def _level(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not 0 < float(value) < 1:
        raise InvalidOptionError(
            f"{name!r} must be a coverage level strictly between 0 and 1 (e.g. 0.9), got {value!r}."
        )
    return float(value)


@dataclass(frozen=True)
class RequestOptions:
    """The options of one request (all off by default: a plain prediction)."""

    explain: bool = False
    top_k: int | None = None
    approx: bool = False
    interval: float | None = None
    prediction_set: float | None = None
    calibrate: bool = True

    @classmethod
    def parse(cls, given: Mapping[str, Any]) -> RequestOptions:
        """The options in ``given`` (a JSON body or OIP parameters; other keys are ignored).

        Example:
            >>> RequestOptions.parse({"interval": 0.9}).interval
            0.9
        """
        if not any(k in given for k in FIELDS):
            return NONE
        top_k = given.get("top_k")
        if top_k is not None and (type(top_k) is not int or top_k <= 0):
            raise InvalidOptionError(
                f"'top_k' must be a whole number of features of at least 1, got {top_k!r}."
            )
        explain = _flag("explain", given.get("explain"), top_k is not None)
        if top_k is not None and not explain:
            raise InvalidOptionError("'top_k' picks among contributions; drop 'explain': false.")
        approx = _flag("approx", given.get("approx"), False)
        if approx and not explain:
            raise InvalidOptionError("'approx' is an option of 'explain'; ask 'explain': true.")
        return cls(
            explain=explain,
            top_k=top_k,
            approx=approx,
            interval=_level("interval", given.get("interval")),
            prediction_set=_level("prediction_set", given.get("prediction_set")),
            calibrate=_flag("calibrate", given.get("calibrate"), True),
        )

    @property
    def extras(self) -> bool:
        """Whether anything beyond the prediction is asked for."""
        return self.explain or self.interval is not None or self.prediction_set is not None


#: No options: a plain (calibrated, when fitted) prediction.
NONE = RequestOptions()
