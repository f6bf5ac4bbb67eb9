"""Explanations served over real HTTP: per-row contributions that add up to the margin (JSON
and OIP with tritonclient), boosters and ensembles, binary and multiclass, top-k, the 422s,
and contributions in the prediction log only for endpoints whose setting asks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
import xgboost as xgb
from harness import wait_until
from serving_support import (
    FEATURES,
    cat_frame,
    deploy,
    make_frame,
    ready,
    train,
)
from serving_support import instances as _instances
from serving_support import post_predict as _post
from sklearn.datasets import load_breast_cancer, load_iris

from rayops.registry import EnsembleSpec, Registry
from rayops.registry.predictor import evaluate
from rayops.serving import Endpoints
from rayops.storage import Storage

CANCER = load_breast_cancer(as_frame=True)
BFEATURES = [f"b{i}" for i in range(CANCER.data.shape[1])]
IRIS = load_iris(as_frame=True)
IFEATURES = ["sl", "sw", "pl", "pw"]
SPECIES = ["setosa", "versicolor", "virginica"]


def _binary(seed: int, rounds: int) -> xgb.Booster:
    dm = xgb.DMatrix(CANCER.data.set_axis(BFEATURES, axis=1), label=CANCER.target)
    params = {"objective": "binary:logistic", "max_depth": 2, "seed": seed, "nthread": 1}
    return xgb.train(params, dm, num_boost_round=rounds)


@pytest.fixture(scope="module")
def served(root: Storage) -> dict[str, Any]:
    reg = Registry(root)
    df = make_frame(400)
    r1 = reg.register("demand", train(df, FEATURES, depth=2, seed=1)).ref
    r2 = reg.register("demand", train(df, FEATURES, depth=4, seed=2)).ref
    weighted = reg.register(
        "blend", EnsembleSpec(kind="weighted", members=[r1, r2], weights=[1, 3])
    ).ref
    preds = pd.DataFrame({r: evaluate(reg.load(r), df[FEATURES]) for r in (r1, r2)})
    meta = xgb.train({"booster": "gblinear", "updater": "coord_descent", "lambda": 0.0},
                     xgb.DMatrix(preds, label=df["y"]), 50)  # fmt: skip
    stacked = reg.register(
        "stack", EnsembleSpec(kind="stacked", members=[r1, r2], meta=reg.register("meta", meta).ref)
    ).ref
    voting = reg.register("vote", EnsembleSpec(kind="voting", members=[r1, r2])).ref
    dynamic = reg.register("pick", EnsembleSpec(kind="dynamic", members=[r1, r2])).ref
    multi = reg.register("perf", EnsembleSpec(kind="multi_target", members=[r1, r2],
                                              targets=["a", "b"])).ref  # fmt: skip
    colours = reg.register("colours", train(cat_frame(), ["x0", "colour"])).ref
    linear = xgb.train({"booster": "gblinear"}, xgb.DMatrix(df[FEATURES], label=df["y"]), 5)
    lin = reg.register("linear", linear).ref
    lin_blend = reg.register("linblend", EnsembleSpec(kind="weighted", members=[r1, lin])).ref
    ba, bb = _binary(0, 6), _binary(1, 12)
    ca = reg.register("cancer", ba, classes=["malignant", "benign"]).ref
    cb = reg.register("cancer", bb, classes=["malignant", "benign"]).ref
    cblend = reg.register("cblend", EnsembleSpec(kind="weighted", members=[ca, cb])).ref
    ix = IRIS.data.set_axis(IFEATURES, axis=1)
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "nthread": 1}
    iris = xgb.train(params, xgb.DMatrix(ix, label=IRIS.target), 8)
    ri = reg.register("iris", iris, classes=SPECIES).ref
    eps = Endpoints(root)
    for name, ref in (("reg", r1), ("weighted", weighted), ("stacked", stacked),
                      ("voting", voting), ("dynamic", dynamic), ("perf", multi),
                      ("colours", colours), ("linear", lin), ("linblend", lin_blend),
                      ("cancer", ca), ("cblend", cblend), ("iris", ri)):  # fmt: skip
        eps.create(name, ref)
    return {"df": df, "r1": r1, "lin": lin, "cancer": ba}


@pytest.fixture(scope="module")
def url(serve_url: str, root: Storage, served: dict[str, Any]) -> str:
    deploy(root, serving_log_contributions="reg,iris,linear")
    assert wait_until(ready(serve_url), timeout=60)
    return serve_url


def _sums(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """(bias + Σ contributions, margin) per row of one set of explanation rows."""
    total = np.array([r["bias"] + sum(r["contributions"].values()) for r in rows])
    return total, np.array([r["margin"] for r in rows])


@pytest.mark.parametrize("endpoint", ["reg", "weighted", "stacked", "voting", "dynamic"])
def test_regression_contributions_add_up_to_the_served_prediction(
    url: str, served: dict[str, Any], endpoint: str
) -> None:
    x = served["df"].head(50)
    r = _post(url, endpoint, {"instances": _instances(x, FEATURES), "explain": True})
    assert r.status_code == 200, r.text
    body = r.json()
    e = body["explanations"]
    assert e["space"] == "margin" and e["link"] == "identity" and e["exact"] is True
    assert e["features"] == FEATURES and e["method"] == "treeshap" and len(e["rows"]) == 50
    assert all(list(row["contributions"]) == FEATURES for row in e["rows"])
    total, margin = _sums(e["rows"])
    np.testing.assert_allclose(total, margin, atol=1e-4)
    np.testing.assert_allclose(margin, body["predictions"], atol=1e-3)


def test_binary_contributions_are_log_odds_and_multiclass_has_one_set_per_class(
    url: str, served: dict[str, Any]
) -> None:
    x = CANCER.data.set_axis(BFEATURES, axis=1).head(40)
    r = _post(url, "cancer", {"instances": _instances(x, BFEATURES), "explain": True}).json()
    e = r["explanations"]
    assert e["link"] == "logit" and e["exact"] is True
    total, margin = _sums(e["rows"])
    np.testing.assert_allclose(total, margin, atol=1e-4)
    p1 = 1 / (1 + np.exp(-total))  # the link: log-odds of the second class -> its probability
    np.testing.assert_allclose(p1, np.array(r["probabilities"])[:, 1], rtol=1e-4)
    xi = IRIS.data.set_axis(IFEATURES, axis=1)
    r = _post(url, "iris", {"instances": _instances(xi, IFEATURES), "explain": True}).json()
    e = r["explanations"]
    assert e["link"] == "softmax" and len(e["rows"]) == 150
    assert all(list(row) == SPECIES for row in e["rows"])
    z = np.empty((150, 3))
    for j, cls in enumerate(SPECIES):
        total, margin = _sums([row[cls] for row in e["rows"]])
        np.testing.assert_allclose(total, margin, atol=1e-4)
        z[:, j] = total
    soft = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft, np.array(r["probabilities"]), rtol=1e-4)


def test_categorical_features_are_explained(url: str) -> None:
    rows = [{"x0": 0.5, "colour": "red"}, {"x0": -0.5, "colour": "green"}]
    r = _post(url, "colours", {"instances": rows, "explain": True})
    assert r.status_code == 200, r.text
    e = r.json()["explanations"]
    total, margin = _sums(e["rows"])
    np.testing.assert_allclose(total, margin, atol=1e-4)
    np.testing.assert_allclose(margin, r.json()["predictions"], atol=1e-4)
    # colour carries the +5 / -5 of the generated target: it dominates both rows
    assert all(abs(row["contributions"]["colour"]) > 2 for row in e["rows"])


def test_a_multi_target_model_cannot_explain_or_bound(url: str, served: dict[str, Any]) -> None:
    instances = _instances(served["df"].head(2), FEATURES)
    for option in ({"explain": True}, {"interval": 0.9}):
        r = _post(url, "perf", {"instances": instances, **option})
        assert r.status_code == 422 and "multi-target" in r.json()["error"], r.text


def test_a_classifier_ensemble_says_its_contributions_approximate(url: str) -> None:
    x = CANCER.data.set_axis(BFEATURES, axis=1).head(5)
    e = _post(url, "cblend", {"instances": _instances(x, BFEATURES), "explain": True}).json()
    assert e["explanations"]["exact"] is False
    assert "approximation" in e["explanations"]["note"]
    # the weighted member contributions add up to the weighted member margins
    total, margin = _sums(e["explanations"]["rows"])
    np.testing.assert_allclose(total, margin, atol=1e-4)


def test_top_k_keeps_the_largest_and_approx_still_adds_up(url: str, served: dict[str, Any]) -> None:
    instances = _instances(served["df"].head(20), FEATURES)
    full = _post(url, "reg", {"instances": instances, "explain": True}).json()["explanations"]
    top = _post(url, "reg", {"instances": instances, "top_k": 2}).json()["explanations"]
    for whole, kept in zip(full["rows"], top["rows"], strict=True):
        ranked = sorted(whole["contributions"].items(), key=lambda kv: -abs(kv[1]))[:2]
        assert list(kept["contributions"]) == [f for f, _ in ranked]
        assert list(kept["contributions"].values()) == pytest.approx([v for _, v in ranked])
        assert kept["bias"] == pytest.approx(whole["bias"])
    approx = _post(url, "reg", {"instances": instances, "explain": True, "approx": True}).json()
    e = approx["explanations"]
    assert e["method"] == "approx"
    total, margin = _sums(e["rows"])
    np.testing.assert_allclose(total, margin, atol=1e-4)
    exact = np.array([list(r["contributions"].values()) for r in full["rows"]])
    saabas = np.array([list(r["contributions"].values()) for r in e["rows"]])
    assert not np.allclose(exact, saabas)  # a different attribution of the same margin


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"explain": True, "top_k": 0}, "'top_k' must be a whole number"),
        ({"explain": True, "top_k": 4}, "has 3 features"),
        ({"explain": True, "top_k": 1.5}, "'top_k' must be a whole number"),
        ({"explain": "yes"}, "'explain' must be true or false"),
        ({"approx": True}, "'approx' is an option of 'explain'"),
        ({"top_k": 2, "explain": False}, "drop 'explain': false"),
    ],
)
def test_bad_explain_options_are_422(
    url: str, served: dict[str, Any], body: dict[str, Any], words: str
) -> None:
    r = _post(url, "reg", {"instances": _instances(served["df"].head(2), FEATURES), **body})
    assert r.status_code == 422 and words in r.json()["error"], r.text


def test_a_model_that_cannot_explain_is_422_naming_the_member(
    url: str, served: dict[str, Any]
) -> None:
    instances = _instances(served["df"].head(2), FEATURES)
    for endpoint in ("linear", "linblend"):
        r = _post(url, endpoint, {"instances": instances, "explain": True})
        assert r.status_code == 422, r.text
        assert served["lin"] in r.json()["error"] and "linear booster" in r.json()["error"]
        plain = _post(url, endpoint, {"instances": instances})
        # only the explanation is refused (even where the log asks for contributions)
        assert plain.status_code == 200, plain.text


def test_oip_contributions_with_tritonclient(url: str, served: dict[str, Any]) -> None:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url.removeprefix("http://"))
    meta = client.get_model_metadata("reg")
    assert meta["parameters"]["features"] == FEATURES
    x = served["df"][FEATURES].to_numpy(np.float32)[:25]
    for binary in (True, False):
        tensor = httpclient.InferInput("input", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary)
        names = ("prediction", "contributions", "top_features")
        outputs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in names]
        result = client.infer("reg", [tensor], outputs=outputs,
                              parameters={"explain": True, "top_k": 2})  # fmt: skip
        contributions = result.as_numpy("contributions")
        assert contributions.shape == (25, 4) and contributions.dtype == np.float32
        np.testing.assert_allclose(contributions.sum(axis=1), result.as_numpy("prediction"),
                                   atol=1e-3)  # fmt: skip
        top = result.as_numpy("top_features")
        assert top.shape == (25, 2) and top.dtype == np.int32
        largest = np.argsort(-np.abs(contributions[:, :-1]), axis=1, kind="stable")[:, 0]
        assert (top[:, 0] == largest).all()
        assert result.get_response()["parameters"]["contributions_features"] == [
            *FEATURES, "bias"]  # fmt: skip
    xi = IRIS.data.to_numpy(np.float32)[:10]
    tensor = httpclient.InferInput("input", list(xi.shape), "FP32")
    tensor.set_data_from_numpy(xi)
    result = client.infer("iris", [tensor], parameters={"explain": True})
    assert result.as_numpy("contributions").shape == (10, 3, 5)
    plain = client.infer("reg", [_tensor(x[:1])])
    assert plain.as_numpy("contributions") is None


def _tensor(x: np.ndarray) -> Any:
    import tritonclient.http as httpclient

    tensor = httpclient.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    return tensor


def test_oip_asking_for_contributions_without_the_parameter_is_422(
    url: str, served: dict[str, Any]
) -> None:
    body = {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP64",
                        "data": [0.1, 0.2, 0.3]}],
            "outputs": [{"name": "contributions"}]}  # fmt: skip
    r = requests.post(f"{url}/v2/models/reg/infer", json=body, timeout=30)
    assert r.status_code == 422 and "needs the request parameter 'explain'" in r.json()["error"]
    body["parameters"] = {"explain": True, "top_k": 9}
    r = requests.post(f"{url}/v2/models/reg/infer", json=body, timeout=30)
    assert r.status_code == 422 and "has 3 features" in r.json()["error"]


def test_contributions_are_logged_only_for_endpoints_whose_setting_asks(
    url: str, root: Storage, served: dict[str, Any]
) -> None:
    x = served["df"].head(4)
    logged = _post(url, "reg", {"instances": _instances(x, FEATURES)}).json()
    explained = _post(url, "reg", {"instances": _instances(x, FEATURES), "top_k": 1}).json()
    other = _post(url, "weighted", {"instances": _instances(x, FEATURES), "explain": True}).json()
    xi = IRIS.data.set_axis(IFEATURES, axis=1).head(3)
    iris = _post(url, "iris", {"instances": _instances(xi, IFEATURES)}).json()

    def has(endpoint: str, rid: str) -> bool:
        if not root.list_keys(f"logs/{endpoint}/predictions/"):
            return False
        log = root.read_parquet(f"logs/{endpoint}/predictions/").to_pandas()
        return rid in set(log["request_id"])

    wanted = (("reg", explained), ("weighted", other), ("iris", iris))
    assert wait_until(lambda: all(has(e, a["request_id"]) for e, a in wanted), timeout=20)
    log = root.read_parquet("logs/reg/predictions/").to_pandas()
    columns = [f"c_{f}" for f in FEATURES] + ["c_bias"]
    for answer in (logged, explained):  # every request of the endpoint, asked or not
        mine = log[log["request_id"] == answer["request_id"]].sort_values("row")
        np.testing.assert_allclose(mine[columns].sum(axis=1), answer["predictions"], atol=1e-4)
        assert mine[columns].notna().all().all()
    assert not any(c.startswith("c_") for c in
                   root.read_parquet("logs/weighted/predictions/").schema.names)  # fmt: skip
    ilog = root.read_parquet("logs/iris/predictions/").to_pandas()
    mine = ilog[ilog["request_id"] == iris["request_id"]]
    icols = [f"c_{f}" for f in IFEATURES] + ["c_bias"]
    assert mine[icols].notna().all().all() and len(mine) == 3  # the predicted class's set
