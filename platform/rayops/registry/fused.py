"""An ensemble's tree members predicted in one XGBoost call.

Each ``Booster.inplace_predict`` call has a fixed cost (argument checks, array
interfaces, the result's copy) of about 0.1-0.2 ms here, which is most of a
one-row prediction: a 3-member stacked ensemble paid it three times.
:meth:`FusedTrees.of` concatenates the members' trees into one booster with one
output group per member output (a ``multi:softprob`` model, read as margins) and
each member's own base margin as its group's base score, so one call gives every
member's margin as the same float32 sum the member computes; each member's link is
then applied. It checks on probe rows that every member's margins are equal to the
bit and its outputs equal, and returns None when the members cannot be fused
(other feature lists, categorical features, DART or linear boosters, parallel
trees, vector-leaf trees, an objective whose link is not known here): the caller
then predicts member by member. The fused booster holds a second copy of the
members' trees in the replica's memory.

Example:
    >>> import numpy as np, xgboost as xgb
    >>> X = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    >>> a = xgb.train({"nthread": 1}, xgb.DMatrix(X, X[:, 0]), 5)
    >>> b = xgb.train({"nthread": 1, "max_depth": 2}, xgb.DMatrix(X, X[:, 1]), 7)
    >>> fused = FusedTrees.of([a, b])
    >>> out = fused.predict(X[:3])
    >>> bool(np.allclose(out[1], b.inplace_predict(X[:3]), atol=1e-5))
    True
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rayops.registry.linear import apply_link, link_of

if TYPE_CHECKING:
    import numpy as np
    import xgboost as xgb

__all__ = ["FusedTrees"]

#: The learner fields that must be equal for trees to share one input matrix.
_SAME_INPUT = ("feature_names", "feature_types")


@dataclass(frozen=True)
class _Member:
    groups: slice  # its columns of the fused margins
    link: str


@dataclass(frozen=True)
class FusedTrees:
    """Tree boosters over one feature list, predicted in one call (see the module)."""

    booster: xgb.Booster
    members: tuple[_Member, ...]

    @classmethod
    def of(cls, boosters: Sequence[xgb.Booster], nthread: int | None = None) -> FusedTrees | None:
        """The fused form of ``boosters`` (two or more), or None if they cannot be fused
        or the fused booster does not reproduce each of them on probe rows."""
        import numpy as np

        if len(boosters) < 2:
            return None
        full = [json.loads(bytes(b.save_raw("json"))) for b in boosters]
        docs = [f["learner"] for f in full]
        first = docs[0]
        if any(d[k] != first[k] for d in docs for k in _SAME_INPUT):
            return None
        if "c" in first["feature_types"]:  # categorical input is a DataFrame: never fused
            return None
        models, links, widths = [], [], []
        for d in docs:
            gbm, param = d["gradient_booster"], d["learner_model_param"]
            if gbm["name"] != "gbtree" or param.get("num_target", "1") != "1":
                return None
            model = gbm["model"]
            if model["gbtree_model_param"]["num_parallel_tree"] != "1":
                return None
            if model.get("cats") != first["gradient_booster"]["model"].get("cats"):
                return None
            if param["num_feature"] != first["learner_model_param"]["num_feature"]:
                return None
            if any(t["tree_param"].get("size_leaf_vector", "1") not in ("0", "1")
                   for t in model["trees"]):  # fmt: skip
                return None
            link = link_of(d["objective"]["name"])
            if link is None:
                return None
            models.append(model)
            links.append(link)
            widths.append(max(1, int(param.get("num_class", "0") or 0)))
        trees: list[dict[str, Any]] = []
        tree_info: list[int] = []
        indptr = [0]
        bases: list[float] = []
        start = 0
        for doc, model, width in zip(full, models, widths, strict=True):
            for tree, group in zip(model["trees"], model["tree_info"], strict=True):
                trees.append({**tree, "id": len(trees)})
                tree_info.append(start + int(group))
            indptr += [indptr[-1] + int(i) for i in model["iteration_indptr"][1:]]
            base = _base_margin(doc, width)
            if base is None:
                return None
            bases += base
            start += width
        # The fused model's base score is every member's own base margin, so each group's
        # margin is the same float32 sum, in the same order, as the member's.
        fused = _load(full[0], trees, tree_info, indptr, bases)
        if fused is None:
            return None
        if nthread:
            fused.set_param({"nthread": nthread})
        members, start = [], 0
        for width, link in zip(widths, links, strict=True):
            members.append(_Member(slice(start, start + width), link))
            start += width
        out = cls(fused, tuple(members))

        n = int(first["learner_model_param"]["num_feature"])
        probe = np.random.default_rng(0).normal(size=(64, n)).astype(np.float32)
        probe[0, :] = np.nan
        margins = fused.inplace_predict(probe, predict_type="margin").reshape(len(probe), -1)
        for booster, member, got in zip(boosters, members, out.predict(probe), strict=True):
            own = booster.inplace_predict(probe, predict_type="margin").reshape(len(probe), -1)
            expected = np.asarray(booster.inplace_predict(probe), np.float64)
            if not np.array_equal(own, margins[:, member.groups]) or not np.allclose(
                got, expected, rtol=1e-6, atol=1e-7
            ):
                return None
        return out

    def predict(self, x: Any) -> list[np.ndarray]:
        """Each member's ``inplace_predict`` output for matrix ``x``, in member order."""
        import numpy as np

        margins = np.asarray(self.booster.inplace_predict(x, predict_type="margin"), np.float64)
        margins = margins.reshape(len(margins), -1)
        return [apply_link(m.link, margins[:, m.groups]) for m in self.members]


def _with_trees(
    doc: dict[str, Any],
    trees: list[dict[str, Any]],
    tree_info: list[int],
    indptr: list[int],
    learner_param: dict[str, str] | None = None,
    objective: dict[str, Any] | None = None,
) -> xgb.Booster | None:
    """The model of JSON document ``doc`` with other trees (and base score, objective),
    or None if XGBoost refuses it. ``doc`` is not changed."""
    import xgboost as xgb

    learner = doc["learner"]
    gbm = learner["gradient_booster"]
    model = gbm["model"]
    new_model = {
        **model,
        "trees": trees,
        "tree_info": tree_info,
        "iteration_indptr": indptr,
        "gbtree_model_param": {**model["gbtree_model_param"], "num_trees": str(len(trees))},
    }
    new_learner = {
        **learner,
        "attributes": {},
        "learner_model_param": {**learner["learner_model_param"], **(learner_param or {})},
        "objective": objective or learner["objective"],
        "gradient_booster": {**gbm, "model": new_model},
    }
    out = xgb.Booster()
    try:
        out.load_model(bytearray(json.dumps({**doc, "learner": new_learner}).encode()))
    except xgb.core.XGBoostError:
        return None
    return out


def _base_margin(doc: dict[str, Any], width: int) -> list[float] | None:
    """A member's base score as a margin, as XGBoost itself computes it: the margin of
    the same model (JSON document ``doc``) whose only tree per output is a leaf of 0."""
    import numpy as np

    n = int(doc["learner"]["learner_model_param"]["num_feature"])
    leaf = {
        "base_weights": [0.0], "categories": [], "categories_nodes": [],
        "categories_segments": [], "categories_sizes": [], "default_left": [0],
        "left_children": [-1], "loss_changes": [0.0], "parents": [2147483647],
        "right_children": [-1], "split_conditions": [0.0], "split_indices": [0],
        "split_type": [0], "sum_hessian": [0.0],
        "tree_param": {"num_deleted": "0", "num_feature": str(n), "num_nodes": "1",
                       "size_leaf_vector": "1"},
    }  # fmt: skip
    trees = [{**leaf, "id": g} for g in range(width)]
    stump = _with_trees(doc, trees, list(range(width)), [0, width])
    if stump is None:
        return None
    zero = np.zeros((1, n), dtype=np.float32)
    margin = stump.inplace_predict(zero, predict_type="margin").reshape(-1)
    if len(margin) != width:
        return None
    return [float(v) for v in margin]  # float32 values, exact as float64


def _load(
    template: dict[str, Any],
    trees: list[dict[str, Any]],
    tree_info: list[int],
    indptr: list[int],
    bases: list[float],
) -> xgb.Booster | None:
    """One ``multi:softprob`` booster with a group per member output (read as margins)."""
    groups = str(len(bases))
    return _with_trees(
        template,
        trees,
        tree_info,
        indptr,
        {"base_score": "[" + ",".join(repr(b) for b in bases) + "]", "num_class": groups},
        {"name": "multi:softprob", "softmax_multiclass_param": {"num_class": groups}},
    )
