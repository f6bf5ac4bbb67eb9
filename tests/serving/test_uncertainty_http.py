"""Uncertainty served over real HTTP: conformal intervals that cover held-out rows,
prediction sets, calibrated probabilities (training's choice, applied at serve), OIP
tensors with tritonclient, the typed log columns, and a 422 for every impossible ask."""

from __future__ import annotations

import json
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
from sklearn.datasets import make_classification
from sklearn.metrics import log_loss

from rayops.registry import EnsembleSpec, Registry
from rayops.serving import Endpoints
from rayops.storage import Storage
from rayops.tasks import Task
from rayops.training.uncertainty import fit_uncertainty
from rayops.uncertainty.calibration import Calibrator
from rayops.uncertainty.intervals import IntervalModel, segment_keys

CFEATURES = [f"c{i}" for i in range(6)]
CLASSES = ["no", "yes"]
THREE = ["a", "b", "c"]


def _noisy(n: int, classes: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    x, y = make_classification(n_samples=n, n_features=6, n_informative=4, n_redundant=0,
                               n_classes=classes, flip_y=0.25, random_state=seed)  # fmt: skip
    return pd.DataFrame(x, columns=CFEATURES), y


def _overconfident(x: pd.DataFrame, y: np.ndarray, classes: int) -> xgb.Booster:
    """Deep trees fitted hard on noisy labels: probabilities far too close to 0 and 1."""
    params: dict[str, Any] = {"max_depth": 6, "eta": 0.5, "nthread": 1, "seed": 0}
    if classes == 2:
        params["objective"] = "binary:logistic"
    else:
        params.update(objective="multi:softprob", num_class=classes)
    return xgb.train(params, xgb.DMatrix(x, label=y), 60)


@pytest.fixture(scope="module")
def served(root: Storage) -> dict[str, Any]:
    reg = Registry(root)
    eps = Endpoints(root)
    df = make_frame(600, seed=3)
    booster = train(df, FEATURES, depth=3)
    hold = make_frame(1000, seed=4)  # the calibration rows: never trained on
    doc = fit_uncertainty(Task.of("regression"), hold["y"], evaluate_booster(booster, hold))
    assert doc is not None
    ref = reg.register("demand", booster, uncertainty=doc).ref
    bare = reg.register("demand", booster).ref  # no uncertainty document
    blend = reg.register("blend", EnsembleSpec(kind="weighted", members=[ref, bare])).ref
    x, y = _noisy(3000, 2, seed=0)
    binary = _overconfident(x.iloc[:1000], y[:1000], 2)
    p_hold = np.asarray(binary.predict(xgb.DMatrix(x.iloc[1000:2000])))
    bdoc = fit_uncertainty(Task.of("binary"), y[1000:2000], np.column_stack([1 - p_hold, p_hold]))
    assert bdoc is not None and bdoc["calibration"]["method"] != "none"
    bref = reg.register("churn", binary, classes=CLASSES, uncertainty=bdoc).ref
    x3, y3 = _noisy(4000, 3, seed=1)
    multi = _overconfident(x3.iloc[:1500], y3[:1500], 3)
    p3 = np.asarray(multi.predict(xgb.DMatrix(x3.iloc[1500:2500])))
    mdoc = fit_uncertainty(Task.of("multiclass"), y3[1500:2500], p3)
    assert mdoc is not None
    mref = reg.register("three", multi, classes=THREE, uncertainty=mdoc).ref
    colours = _noisy_colours(cat_frame(600, seed=2), seed=2)
    cat_booster = train(colours, ["x0", "colour"])
    hold_c = _noisy_colours(cat_frame(3000, seed=3), seed=3)
    out = np.asarray(cat_booster.predict(xgb.DMatrix(hold_c[["x0", "colour"]],
                                                     enable_categorical=True)))  # fmt: skip
    keys = segment_keys(hold_c, ["colour"])
    cdoc = fit_uncertainty(Task.of("regression"), hold_c["y"], out, segments=keys,
                           context=["colour"])  # fmt: skip
    assert cdoc is not None and cdoc["intervals"]["kind"] == "mondrian"
    cref = reg.register("colours", cat_booster, uncertainty=cdoc).ref
    for name, r in (("demand", ref), ("bare", bare), ("blend", blend), ("churn", bref),
                    ("three", mref), ("colours", cref)):  # fmt: skip
        eps.create(name, r)
    return {"booster": booster, "doc": doc, "binary": binary, "bdoc": bdoc, "x": x, "y": y,
            "multi": multi, "x3": x3, "y3": y3}  # fmt: skip


def _noisy_colours(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Red rows are ten times noisier than the others."""
    rng = np.random.default_rng(seed)
    scale = np.where(frame["colour"] == "red", 2.0, 0.2)
    return frame.assign(y=frame["y"] + rng.normal(size=len(frame)) * scale)


def evaluate_booster(booster: xgb.Booster, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(booster.predict(xgb.DMatrix(frame[FEATURES])), dtype=np.float64)


@pytest.fixture(scope="module")
def url(serve_url: str, root: Storage, served: dict[str, Any]) -> str:
    deploy(root)
    assert wait_until(ready(serve_url), timeout=60)
    return serve_url


def test_90_percent_intervals_cover_about_90_percent_of_fresh_rows(
    url: str, served: dict[str, Any]
) -> None:
    fresh = make_frame(3000, seed=5)  # exchangeable with the calibration rows
    r = _post(url, "demand", {"instances": _instances(fresh, FEATURES), "interval": 0.9})
    assert r.status_code == 200, r.text
    body = r.json()
    lower, upper, pred = (np.array(body[k]) for k in ("lower", "upper", "predictions"))
    assert body["interval"] == 0.9 and len(lower) == 3000
    assert (lower < pred).all() and (pred < upper).all()
    q = IntervalModel.from_json(served["doc"]["intervals"]).half_width(0.9)
    np.testing.assert_allclose(upper - pred, q, rtol=1e-9)  # the stored model's quantile
    covered = float(np.mean((fresh["y"] >= lower) & (fresh["y"] <= upper)))
    assert 0.88 <= covered <= 0.92, covered
    wide = _post(url, "demand", {"instances": _instances(fresh.head(5), FEATURES),
                                 "interval": 0.99}).json()  # fmt: skip
    assert (np.array(wide["upper"]) - np.array(wide["predictions"]) > q).all()
    plain = _post(url, "demand", {"instances": _instances(fresh.head(5), FEATURES)}).json()
    assert "lower" not in plain and "interval" not in plain


def test_mondrian_intervals_are_wider_where_the_model_is_noisier(url: str) -> None:
    fresh = _noisy_colours(cat_frame(3000, seed=4), seed=4)
    rows = [{"x0": float(a), "colour": str(c)} for a, c in zip(fresh["x0"], fresh["colour"],
                                                                strict=True)]  # fmt: skip
    r = _post(url, "colours", {"instances": rows, "interval": 0.9})
    assert r.status_code == 200, r.text
    body = r.json()
    lower, upper = np.array(body["lower"]), np.array(body["upper"])
    width = pd.Series(upper - lower).groupby(fresh["colour"].astype(str).to_numpy()).first()
    assert width["red"] > 5 * width["green"] and width["green"] == pytest.approx(
        width["blue"], rel=0.5
    )
    inside = (fresh["y"].to_numpy() >= lower) & (fresh["y"].to_numpy() <= upper)
    for colour in ("red", "green", "blue"):  # covered per segment, not only on average
        share = float(inside[(fresh["colour"] == colour).to_numpy()].mean())
        assert 0.86 <= share <= 0.94, (colour, share)


def test_served_probabilities_are_calibrated_as_training_chose(
    url: str, served: dict[str, Any]
) -> None:
    x, y = served["x"].iloc[2000:], served["y"][2000:]  # rows neither fit nor calibration saw
    r = _post(url, "churn", {"instances": _instances(x, CFEATURES)}).json()
    raw_p1 = np.asarray(served["binary"].predict(xgb.DMatrix(x)))
    raw = np.column_stack([1 - raw_p1, raw_p1])
    cal = Calibrator.from_json(served["bdoc"]["calibration"])
    assert r["calibration"] == cal.method
    served_p = np.array(r["probabilities"])
    np.testing.assert_allclose(served_p, cal.apply(raw), rtol=1e-6, atol=1e-9)
    assert log_loss(y, served_p) < log_loss(y, raw)  # it helps on rows it never saw
    assert r["predictions"] == [CLASSES[int(p >= 0.5)] for p in served_p[:, 1]]
    asis = _post(url, "churn", {"instances": _instances(x.head(20), CFEATURES),
                                "calibrate": False}).json()  # fmt: skip
    np.testing.assert_allclose(np.array(asis["probabilities"]), raw[:20], rtol=1e-5)
    assert "calibration" not in asis


def test_prediction_sets_hold_the_true_class_at_the_asked_rate(
    url: str, served: dict[str, Any]
) -> None:
    x3, y3 = served["x3"].iloc[2500:], served["y3"][2500:]
    r = _post(url, "three", {"instances": _instances(x3, CFEATURES), "prediction_set": 0.9})
    assert r.status_code == 200, r.text
    body = r.json()
    sets = body["prediction_sets"]
    assert body["prediction_set"] == 0.9 and len(sets) == len(y3)
    assert all(set(s) <= set(THREE) and s == sorted(s, key=THREE.index) for s in sets)
    covered = float(np.mean([THREE[t] in s for t, s in zip(y3, sets, strict=True)]))
    assert 0.87 <= covered <= 0.93, covered
    sizes = [len(s) for s in sets]
    assert 1 < np.mean(sizes) < 3  # informative: neither every class nor always one
    loose = _post(url, "three", {"instances": _instances(x3.head(200), CFEATURES),
                                 "prediction_set": 0.5}).json()["prediction_sets"]  # fmt: skip
    assert sum(map(len, loose)) < sum(sizes[:200])


@pytest.mark.parametrize(
    ("endpoint", "body", "words"),
    [
        ("demand", {"interval": 0}, "strictly between 0 and 1"),
        ("demand", {"interval": 1}, "strictly between 0 and 1"),
        ("demand", {"interval": 1.5}, "strictly between 0 and 1"),
        ("demand", {"interval": "0.9"}, "strictly between 0 and 1"),
        ("demand", {"interval": True}, "strictly between 0 and 1"),
        ("demand", {"interval": 0.9999}, "calibration rows of demand@1.0.0 can bound"),
        ("churn", {"prediction_set": -0.1}, "strictly between 0 and 1"),
        ("bare", {"interval": 0.9}, "has no calibration data"),
        ("blend", {"interval": 0.9}, "has no calibration data"),
        ("churn", {"interval": 0.9}, "'interval' is for regression"),
        ("demand", {"prediction_set": 0.9}, "'prediction_set' is for classifiers"),
        ("churn", {"calibrate": "no"}, "'calibrate' must be true or false"),
    ],
)
def test_impossible_uncertainty_asks_are_422(
    url: str, endpoint: str, body: dict[str, Any], words: str
) -> None:
    features = CFEATURES if endpoint == "churn" else FEATURES
    r = _post(url, endpoint, {"instances": [dict.fromkeys(features, 0.5)], **body})
    assert r.status_code == 422 and words in r.json()["error"], r.text


def test_oip_lower_upper_and_prediction_sets_with_tritonclient(
    url: str, served: dict[str, Any]
) -> None:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url.removeprefix("http://"))
    meta = client.get_model_metadata("three")["parameters"]["uncertainty"]
    assert meta == {"calibration": "temperature", "interval": False, "mondrian": [],
                    "prediction_set": True}  # fmt: skip
    doc = requests.get(f"{url}/endpoints/colours", timeout=30).json()["uncertainty"]
    assert doc["interval"] and doc["mondrian"] == ["colour"] and doc["calibration"] is None
    bare = requests.get(f"{url}/endpoints/bare", timeout=30).json()["uncertainty"]
    assert bare == {"calibration": None, "interval": False, "mondrian": [],
                    "prediction_set": False}  # fmt: skip
    x = make_frame(20, seed=6)[FEATURES].to_numpy(np.float64)
    for binary in (True, False):
        tensor = httpclient.InferInput("input", list(x.shape), "FP64")
        tensor.set_data_from_numpy(x, binary_data=binary)
        outputs = [httpclient.InferRequestedOutput(n, binary_data=binary)
                   for n in ("prediction", "lower", "upper")]  # fmt: skip
        result = client.infer("demand", [tensor], outputs=outputs, parameters={"interval": 0.8})
        lo, hi, pred = (result.as_numpy(n) for n in ("lower", "upper", "prediction"))
        assert lo.dtype == np.float64 and lo.shape == (20,)
        q = IntervalModel.from_json(served["doc"]["intervals"]).half_width(0.8)
        np.testing.assert_allclose(hi - pred, q, rtol=1e-9)
        np.testing.assert_allclose(pred - lo, q, rtol=1e-9)
    x3 = served["x3"].iloc[2500:2510].to_numpy(np.float32)
    tensor = httpclient.InferInput("input", list(x3.shape), "FP32")
    tensor.set_data_from_numpy(x3)
    result = client.infer("three", [tensor], parameters={"prediction_set": 0.9})
    sets = [json.loads(v) for v in result.as_numpy("prediction_set")]  # JSON list text
    assert len(sets) == 10 and all(set(s) <= set(THREE) for s in sets)
    rows = _instances(served["x3"].iloc[2500:2510], CFEATURES)
    response = _post(url, "three", {"instances": rows, "prediction_set": 0.9})
    assert sets == response.json()["prediction_sets"]
    assert result.get_response()["parameters"]["calibration"] == "temperature"


def test_the_log_has_typed_bounds_and_sets_null_when_not_asked(
    url: str, root: Storage, served: dict[str, Any]
) -> None:
    rows = _instances(make_frame(3, seed=7), FEATURES)
    asked = _post(url, "demand", {"instances": rows, "interval": 0.9}).json()
    plain = _post(url, "demand", {"instances": rows}).json()
    x3 = _instances(served["x3"].head(4), CFEATURES)
    sets = _post(url, "three", {"instances": x3, "prediction_set": 0.9}).json()

    def logged(endpoint: str, rid: str) -> bool:
        if not root.list_keys(f"logs/{endpoint}/predictions/"):
            return False
        return rid in set(root.read_parquet(f"logs/{endpoint}/predictions/")
                          .column("request_id").to_pylist())  # fmt: skip

    wanted = (("demand", asked), ("demand", plain), ("three", sets))
    assert wait_until(lambda: all(logged(e, a["request_id"]) for e, a in wanted), timeout=20)
    table = root.read_parquet("logs/demand/predictions/")
    assert str(table.schema.field("lower").type) == "double"
    assert str(table.schema.field("upper").type) == "double"
    log = table.to_pandas()
    mine = log[log["request_id"] == asked["request_id"]].sort_values("row")
    np.testing.assert_allclose(mine["lower"], asked["lower"])
    np.testing.assert_allclose(mine["upper"], asked["upper"])
    none = log[log["request_id"] == plain["request_id"]]
    assert none["lower"].isna().all() and none["upper"].isna().all() and none["pset"].isna().all()
    tlog = root.read_parquet("logs/three/predictions/")
    assert str(tlog.schema.field("pset").type) == "string"
    t = tlog.to_pandas()
    mine = t[t["request_id"] == sets["request_id"]].sort_values("row")
    assert [json.loads(v) for v in mine["pset"]] == sets["prediction_sets"]
    assert mine["lower"].isna().all()
    np.testing.assert_allclose(mine[[f"p_{c}" for c in THREE]].to_numpy(),
                               np.array(sets["probabilities"]), rtol=1e-9)  # fmt: skip


def test_sdk_predict_and_explain_return_the_extra_fields(url: str, served: dict[str, Any]) -> None:
    from rayops.client import Client

    frame = make_frame(5, seed=8)[FEATURES]
    with Client(url=url) as client:
        p = client.predict("demand", frame, interval=0.9)
        assert p.interval == 0.9 and p.lower is not None and p.upper is not None
        out = p.frame()
        assert list(out.columns) == ["prediction", "lower", "upper"]
        assert (out["lower"] < out["prediction"]).all()
        s = client.predict("three", served["x3"].head(3), prediction_set=0.9)
        assert s.prediction_sets is not None and len(s.prediction_sets) == 3
        assert s.calibration == "temperature"
        top = client.explain("demand", frame, top_k=2).contributions()
        assert len(top) == 5 * 3  # two features and the bias per row
        e = client.explain("demand", frame)
        long = e.contributions()
        assert set(long.columns) == {"row", "feature", "contribution"} and len(long) == 5 * 4
        total = long.groupby("row")["contribution"].sum()
        np.testing.assert_allclose(total, e.predictions, atol=1e-3)


def test_cli_explain_and_predict_against_the_gateway(
    url: str, served: dict[str, Any], tmp_path: Any
) -> None:
    from typer.testing import CliRunner

    from rayops.cli import app

    rows = tmp_path / "rows.parquet"
    make_frame(4, seed=9)[FEATURES].to_parquet(rows)
    runner = CliRunner()
    res = runner.invoke(app, ["explain", "demand", "--data", str(rows), "--url", url,
                              "--top-k", "1", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert len(doc["explanations"]["rows"]) == 4
    assert all(len(r["contributions"]) == 1 for r in doc["explanations"]["rows"])
    res = runner.invoke(app, ["predict", "demand", "--data", str(rows), "--url", url,
                              "--interval", "0.9", "--json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)["rows"]
    assert all(r["lower"] < r["prediction"] < r["upper"] for r in out)
    bad = runner.invoke(app, ["predict", "bare", "--data", str(rows), "--url", url,
                              "--interval", "0.9"])  # fmt: skip
    assert bad.exit_code != 0 and "no calibration data" in bad.output
    human = runner.invoke(app, ["explain", "demand", "--data", str(rows), "--url", url])
    assert human.exit_code == 0 and "margin space" in human.output
