"""Served explanations: a request's feature contributions, in JSON and as OIP tensors.

The contributions are :func:`rayops.registry.explain.contributions`' — margin
space, exact TreeSHAP or (``approx``) Saabas, every ensemble kind combined the
way the ensemble combines its members, with ``exact`` saying whether
``bias + Σ contributions == margin`` holds for the combination.

JSON (``"explanations"`` in the predict response)::

    {"space": "margin", "link": "identity" | "logit" | "softmax",
     "method": "treeshap" | "approx", "exact": true, "note": null,
     "features": ["x0", "x1", ...],
     "rows": [{"bias": 0.1, "margin": 2.3, "contributions": {"x0": 1.9, ...}}, ...]}

A multiclass row is ``{class: {"bias", "margin", "contributions"}}``, one set per
class. With ``top_k`` each ``contributions`` holds only the ``k`` largest
\\|values\\|, largest first (the rest still add up to ``margin - bias - Σ shown``).

OIP: ``contributions`` FP32 ``[N, F + 1]`` (multiclass ``[N, K, F + 1]``), the
last column the bias, the columns in the model metadata's
``parameters.features`` order; with ``top_k`` also ``top_features`` INT32
``[N, k]`` (multiclass ``[N, K, k]``): the column indices of the largest.

Example:
    >>> import numpy as np
    >>> from rayops.registry.explain import Contributions
    >>> c = Contributions(["a", "b"], np.array([[0.5, -2.0, 1.0]]), np.array([-0.5]))
    >>> explanation_json(c, None, top_k=1, approx=False)["rows"]
    [{'bias': 1.0, 'margin': -0.5, 'contributions': {'b': -2.0}}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rayops.serving.options import InvalidOptionError

if TYPE_CHECKING:
    import numpy as np

    from rayops.registry.explain import Contributions

__all__ = ["check_explainable", "explain", "explanation_json", "link_of", "top_indices"]


def link_of(predictor: Any) -> str:
    """How a margin becomes the answer: ``identity`` (regression), ``logit`` (binary:
    ``p = 1 / (1 + exp(-margin))``), ``softmax`` (multiclass, over the class margins)."""
    task = predictor.task
    if not task.is_classification:
        return "identity"
    return "softmax" if task.kind.value == "multiclass" else "logit"


def check_explainable(predictor: Any, features: int, top_k: int | None) -> None:
    """422 before any work when ``top_k`` is above the feature count or the model is a
    multi-target ensemble (other members that cannot explain are named when met)."""
    spec = getattr(predictor, "spec", None)
    if spec is not None and spec.kind == "multi_target":
        raise InvalidOptionError(
            f"{predictor.ref} is a multi-target ensemble; explain one target's model instead."
        )
    if top_k is not None and top_k > features:
        raise InvalidOptionError(
            f"'top_k' is {top_k} but {predictor.ref} has {features} features; ask at most "
            f"{features}."
        )


def explain(
    predictor: Any, rows: Any, *, approx: bool, combiners: Mapping[str, Any] | None
) -> Contributions:
    """The contributions of ``rows``; a member that cannot explain is a 422 naming it."""
    from rayops.registry.explain import NotExplainableError, contributions

    try:
        return contributions(predictor, rows, approx=approx, combiners=combiners)
    except NotExplainableError as e:
        raise InvalidOptionError(f"Cannot explain {predictor.ref}: {e}") from None


def top_indices(values: np.ndarray, k: int) -> np.ndarray:
    """The feature indices of the ``k`` largest |contributions| (bias excluded), largest
    first, over the last axis of ``values`` (``[..., F + 1]``)."""
    import numpy as np

    magnitude = -np.abs(values[..., :-1])
    out: np.ndarray = np.argsort(magnitude, axis=-1, kind="stable")[..., :k]
    return out


def _row_sets(
    features: list[str], values: np.ndarray, margin: np.ndarray, top: np.ndarray | None
) -> list[dict[str, Any]]:
    """``{bias, margin, contributions}`` per row of a ``[N, F + 1]`` block."""
    vals = values.tolist()
    margins = margin.tolist()
    out = []
    if top is None:
        for row, m in zip(vals, margins, strict=True):
            out.append({"bias": row[-1], "margin": m,
                        "contributions": dict(zip(features, row[:-1], strict=False))})  # fmt: skip
    else:
        for row, m, idx in zip(vals, margins, top.tolist(), strict=True):
            out.append({"bias": row[-1], "margin": m,
                        "contributions": {features[j]: row[j] for j in idx}})  # fmt: skip
    return out


def explanation_json(
    c: Contributions, classes: Sequence[Any] | None, *, top_k: int | None, approx: bool,
    link: str = "identity",
) -> dict[str, Any]:  # fmt: skip
    """The ``explanations`` part of a JSON predict response (see the module docstring)."""
    top = top_indices(c.values, top_k) if top_k is not None else None
    doc: dict[str, Any] = {
        "space": "margin",
        "link": link,
        "method": "approx" if approx else "treeshap",
        "exact": c.exact,
        "note": c.note,
        "features": list(c.features),
    }
    if c.values.ndim == 3:  # multiclass: one set per class
        assert classes is not None
        per_class = [
            _row_sets(c.features, c.values[:, j], c.margin[:, j],
                      None if top is None else top[:, j])
            for j in range(c.values.shape[1])
        ]  # fmt: skip
        keys = [str(k) for k in classes]
        doc["rows"] = [dict(zip(keys, sets, strict=True)) for sets in zip(*per_class, strict=True)]
    else:
        doc["rows"] = _row_sets(c.features, c.values, c.margin, top)
    return doc


def contribution_tensors(c: Contributions, top_k: int | None) -> list[dict[str, Any]]:
    """The OIP output tensors of an explanation (``contributions``, ``top_features``)."""
    import numpy as np

    values = np.asarray(c.values, dtype=np.float32)
    out = [{"name": "contributions", "shape": list(values.shape), "datatype": "FP32",
            "data": values.ravel().tolist()}]  # fmt: skip
    if top_k is not None:
        top = top_indices(c.values, top_k).astype(np.int32)
        out.append({"name": "top_features", "shape": list(top.shape), "datatype": "INT32",
                    "data": top.ravel().tolist()})  # fmt: skip
    return out
