"""Classifiers served over real HTTP: labels and probabilities in JSON and OIP (tritonclient),
label feedback, thresholds, ensembles that average probabilities, and the typed log."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
import xgboost as xgb
from harness import wait_until
from serving_support import deploy, ready
from sklearn.datasets import load_breast_cancer, load_iris

from rayops.registry import EnsembleSpec, Registry
from rayops.serving import Endpoints
from rayops.storage import Storage

CANCER = load_breast_cancer(as_frame=True)
BFEATURES = [f"b{i}" for i in range(CANCER.data.shape[1])]
IRIS = load_iris(as_frame=True)
IFEATURES = ["sl", "sw", "pl", "pw"]
SPECIES = ["setosa", "versicolor", "virginica"]


def _binary(seed: int, rounds: int) -> tuple[xgb.Booster, pd.DataFrame]:
    x = CANCER.data.set_axis(BFEATURES, axis=1)
    dm = xgb.DMatrix(x, label=CANCER.target)
    params = {"objective": "binary:logistic", "max_depth": 2, "seed": seed, "nthread": 1}
    return xgb.train(params, dm, num_boost_round=rounds), x


def _iris() -> tuple[xgb.Booster, pd.DataFrame]:
    x = IRIS.data.set_axis(IFEATURES, axis=1)
    dm = xgb.DMatrix(x, label=IRIS.target)
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "nthread": 1}
    return xgb.train(params, dm, num_boost_round=8), x


@pytest.fixture(scope="module")
def classifiers(root: Storage) -> dict[str, Any]:
    reg = Registry(root)
    a, x = _binary(0, 6)
    b, _ = _binary(1, 12)
    ref_a = reg.register("cancer", a, classes=["malignant", "benign"]).ref
    ref_b = reg.register("cancer", b, classes=["malignant", "benign"]).ref
    blend = reg.register(
        "cancer-blend", EnsembleSpec(kind="weighted", members=[ref_a, ref_b], weights=[1, 3])
    ).ref
    iris, xi = _iris()
    ref_i = reg.register("iris", iris, classes=SPECIES).ref
    eps = Endpoints(root)
    eps.create("cancer", ref_a)
    eps.create("cancer-blend", blend)
    eps.create("iris", ref_i)
    return {"a": (ref_a, a), "b": (ref_b, b), "blend": blend, "iris": (ref_i, iris),
            "x": x, "xi": xi}  # fmt: skip


@pytest.fixture(scope="module")
def url(serve_url: str, root: Storage, classifiers: dict[str, Any]) -> str:
    deploy(root, serving_ensemble_poll_s=0.5)
    assert wait_until(ready(serve_url), timeout=60)
    return serve_url


def _instances(frame: pd.DataFrame, n: int) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in row.items()} for row in frame.head(n).to_dict("records")]


def test_json_predict_returns_labels_classes_and_probabilities(
    url: str, classifiers: dict[str, Any]
) -> None:
    ref, booster = classifiers["a"]
    x = classifiers["x"]
    r = requests.post(f"{url}/endpoints/cancer/predict", json={"instances": _instances(x, 20)},
                      timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["classes"] == ["malignant", "benign"]
    p1 = booster.predict(xgb.DMatrix(x.head(20)))
    np.testing.assert_allclose(np.array(body["probabilities"])[:, 1], p1, rtol=1e-5)
    expected = ["benign" if p >= 0.5 else "malignant" for p in p1]
    assert body["predictions"] == expected and body["version"] == ref.split("@")[1]
    iris = requests.post(
        f"{url}/endpoints/iris/predict",
        json={"instances": _instances(classifiers["xi"], 150)},
        timeout=30,
    )
    proba = np.array(iris.json()["probabilities"])
    assert proba.shape == (150, 3) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    want = classifiers["iris"][1].predict(xgb.DMatrix(classifiers["xi"])).argmax(axis=1)
    assert iris.json()["predictions"] == [SPECIES[i] for i in want]


def test_a_weighted_ensemble_averages_probabilities(url: str, classifiers: dict[str, Any]) -> None:
    x = classifiers["x"]
    r = requests.post(f"{url}/endpoints/cancer-blend/predict",
                      json={"instances": _instances(x, 30)}, timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    pa_ = classifiers["a"][1].predict(xgb.DMatrix(x.head(30)))
    pb = classifiers["b"][1].predict(xgb.DMatrix(x.head(30)))
    blended = 0.25 * pa_ + 0.75 * pb
    np.testing.assert_allclose(np.array(r.json()["probabilities"])[:, 1], blended, rtol=1e-5)


def test_oip_with_tritonclient_binary_and_json_outputs(
    url: str, classifiers: dict[str, Any]
) -> None:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url.removeprefix("http://"))
    meta = client.get_model_metadata("iris")
    assert [o["name"] for o in meta["outputs"]] == ["label", "probabilities"]
    assert meta["parameters"]["classes"] == SPECIES
    xi = classifiers["xi"].to_numpy(np.float32)[:12]
    for binary in (True, False):
        tensor = httpclient.InferInput("input", list(xi.shape), "FP32")
        tensor.set_data_from_numpy(xi, binary_data=binary)
        outputs = [httpclient.InferRequestedOutput(n, binary_data=binary)
                   for n in ("label", "probabilities")]  # fmt: skip
        result = client.infer("iris", [tensor], outputs=outputs)
        proba = result.as_numpy("probabilities")
        labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
        assert proba.shape == (12, 3) and proba.dtype == np.float32
        expected = classifiers["iris"][1].predict(xgb.DMatrix(classifiers["xi"].head(12)))
        np.testing.assert_allclose(proba, expected, rtol=1e-5)
        assert labels == [SPECIES[i] for i in expected.argmax(axis=1)]
    only = client.infer("iris", [tensor], outputs=[httpclient.InferRequestedOutput("label")])
    assert only.as_numpy("probabilities") is None and only.as_numpy("label") is not None


def test_label_feedback_is_stored_and_bad_labels_are_422(
    url: str, root: Storage, classifiers: dict[str, Any]
) -> None:
    x = classifiers["x"]
    r = requests.post(f"{url}/endpoints/cancer/predict", json={"instances": _instances(x, 3)},
                      timeout=30).json()  # fmt: skip
    rid = r["request_id"]
    ok = requests.post(f"{url}/endpoints/cancer/feedback",
                       json={"request_id": rid, "actuals": ["benign", "malignant", "benign"]},
                       timeout=30)  # fmt: skip
    assert ok.status_code == 201 and ok.json()["stored"] == 3
    for actuals, words in ((["benign", "maybe", "benign"], "'maybe' is not a class"),
                           ([1, 0, 1], "1 is not a class"),
                           ([True, False, True], "True is not a class")):  # fmt: skip
        bad = requests.post(
            f"{url}/endpoints/cancer/feedback",
            json={"request_id": f"bad-{words}", "actuals": actuals},
            timeout=30,
        )
        assert bad.status_code == 422 and words in bad.json()["error"], bad.text
    fb = root.read_parquet("logs/cancer/feedback/").to_pandas()
    assert list(fb["actual_label"]) == ["benign", "malignant", "benign"]  # nothing else stored
    assert not fb["request_id"].str.startswith("bad-").any()


def test_the_log_holds_labels_and_class_probabilities(
    url: str, root: Storage, classifiers: dict[str, Any]
) -> None:
    r = requests.post(
        f"{url}/endpoints/iris/predict",
        json={"instances": _instances(classifiers["xi"], 5)},
        timeout=30,
    ).json()

    def logged() -> bool:
        keys = root.list_keys("logs/iris/predictions/")
        if not keys:
            return False
        log = root.read_parquet("logs/iris/predictions/").to_pandas()
        return r["request_id"] in set(log["request_id"])

    assert wait_until(logged, timeout=20)
    log = root.read_parquet("logs/iris/predictions/").to_pandas()
    mine = log[log["request_id"] == r["request_id"]].sort_values("row")
    assert list(mine["label"]) == r["predictions"]
    probs = mine[[f"p_{c}" for c in SPECIES]].to_numpy()
    np.testing.assert_allclose(probs, np.array(r["probabilities"]), rtol=1e-9)
    assert mine["prediction"].isna().all() and "f_sl" in mine.columns


def test_set_threshold_changes_served_labels_within_a_poll(
    url: str, root: Storage, classifiers: dict[str, Any]
) -> None:
    ref, booster = classifiers["a"]
    x = classifiers["x"].head(40)
    p1 = booster.predict(xgb.DMatrix(x))
    cut = float(np.quantile(p1, 0.5))
    Registry(root).set_threshold(ref, cut, reason="test", actor="t")
    want = ["benign" if p >= cut else "malignant" for p in p1]
    assert want != ["benign" if p >= 0.5 else "malignant" for p in p1]  # the change shows

    def served() -> list[str]:
        body = {"instances": _instances(x, 40)}
        answer: list[str] = requests.post(f"{url}/endpoints/cancer/predict", json=body,
                                          timeout=30).json()["predictions"]  # fmt: skip
        return answer

    assert wait_until(lambda: served() == want, timeout=20, interval=0.2)
    Registry(root).set_threshold(ref, 0.5, reason="back", actor="t")


def test_the_sdk_returns_labels_classes_and_probabilities(
    url: str, root: Storage, classifiers: dict[str, Any]
) -> None:
    import rayops

    client = rayops.Client(root, url=url)
    xi = classifiers["xi"]
    answer = client.predict("iris", xi.iloc[[0, 60, 120]])
    assert answer.classes == SPECIES and answer.model == "iris"
    want = classifiers["iris"][1].predict(xgb.DMatrix(xi.iloc[[0, 60, 120]]))
    np.testing.assert_allclose(np.array(answer.probabilities), want, rtol=1e-5)
    assert answer.predictions == [SPECIES[i] for i in want.argmax(axis=1)]
    frame = answer.frame()  # one column per class probability, beside the label
    assert [f"p_{c}" for c in SPECIES] == [c for c in frame.columns if c.startswith("p_")]
    np.testing.assert_allclose(frame["p_virginica"], want[:, 2], rtol=1e-5)
    # Label feedback through the SDK, checked against the classes like the HTTP route.
    client.feedback("iris", answer.request_id, ["setosa", "versicolor", "virginica"])
    with pytest.raises(rayops.InvalidInputError, match="not a class"):
        client.feedback("iris", answer.request_id, ["setosa", "daisy", "virginica"])
