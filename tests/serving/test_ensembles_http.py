"""Dynamic selection, confidence-weighted voting and multi-target endpoints over real HTTP.

Feedback is prepared through the gateway itself (predict, then feedback), the
control loop's ``ensembles`` task turns the logs into stats, the gateway picks
them up on its poll, and each answer is checked against what pandas computes
independently from the same logs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
from harness import wait_until
from serving_support import FEATURES, cat_frame, deploy, make_frame, ready, train

from rayops.config import Settings
from rayops.registry import EnsembleSpec, Registry
from rayops.serving import Endpoints
from rayops.serving.ensemble_stats import EnsembleStatsTask
from rayops.storage import Storage
from rayops.telemetry.targets import joined_targets

HALF_LIFE = 600.0


@pytest.fixture(scope="module")
def gw(serve_url: str, root: Storage, models: dict[str, str]) -> str:
    deploy(root, serving_ensemble_poll_s=0.2)
    assert wait_until(ready(serve_url), timeout=60)
    return serve_url


def _ok(url: str) -> bool:
    """Whether a GET answers 2xx; a timeout on a loaded machine is "not yet"."""
    try:
        return requests.get(url, timeout=10).ok
    except requests.RequestException:
        return False


def post(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = requests.post(f"{url}{path}", json=body, timeout=30)
    assert r.status_code in (200, 201), r.text
    out: dict[str, Any] = r.json()
    return out


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (str(v) if k == "colour" else float(v)) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def label_through_the_gateway(url: str, endpoint: str, df: pd.DataFrame, features: list[str],
                              batch: int = 20) -> set[str]:  # fmt: skip
    ids = set()
    for start in range(0, len(df), batch):
        part = df.iloc[start : start + batch]
        answer = post(url, f"/endpoints/{endpoint}/predict", {"instances": records(part[features])})
        post(url, f"/endpoints/{endpoint}/feedback",
             {"request_id": answer["request_id"], "actuals": part["y"].tolist()})  # fmt: skip
        ids.add(answer["request_id"])
    return ids


def logged_rows(root: Storage, endpoint: str, ids: set[str]) -> pd.DataFrame:
    """Prediction log joined with feedback, read with pandas (not rayops' readers)."""
    preds = root.read_parquet(f"logs/{endpoint}/predictions/").to_pandas()
    fb = root.read_parquet(f"logs/{endpoint}/feedback/").to_pandas()
    rows = preds[preds["request_id"].isin(ids)].merge(
        fb[["request_id", "row", "actual"]], on=["request_id", "row"]
    )
    # Typed feature columns: f_<name>, no parsing.
    features = rows[[c for c in rows.columns if c.startswith("f_")]]
    features = features.rename(columns=lambda c: c[2:]).reset_index(drop=True)
    return pd.concat([rows.reset_index(drop=True), features], axis=1)


def flushed(root: Storage, endpoint: str, ids: set[str]) -> bool:
    if not root.list_keys(f"logs/{endpoint}/predictions/"):
        return False
    log = root.read_parquet(f"logs/{endpoint}/predictions/").to_pandas()
    return ids <= set(log["request_id"])


def run_stats_task(root: Storage, now: datetime) -> dict[str, Any] | None:
    settings = Settings(storage=root.uri, serving_ensemble_half_life_s=HALF_LIFE)
    return EnsembleStatsTask(root, settings).tick(now)


def stats_revision(url: str, endpoint: str, ref: str) -> int:
    doc = requests.get(f"{url}/endpoints/{endpoint}", timeout=10).json()
    stats = doc["ensembles"].get(ref)
    return int(stats["revision"]) if stats else 0


def decayed_mse(rows: pd.DataFrame, member_preds: np.ndarray, now: datetime) -> float:
    age = (pd.Timestamp(now) - rows["time"]).dt.total_seconds().to_numpy()
    w = 0.5 ** (age / HALF_LIFE)
    return float(np.sum(w * (member_preds - rows["actual"].to_numpy()) ** 2) / w.sum())


def test_dynamic_selection_picks_the_member_pandas_picks(gw: str, root: Storage) -> None:
    reg = Registry(root)
    df = cat_frame(600, seed=3)
    members = {
        c: reg.register(f"only-{c}", train(df[df["colour"] == c], ["x0", "colour"], depth=3)).ref
        for c in ("red", "green", "blue")
    }
    spec = EnsembleSpec(
        kind="dynamic", members=list(members.values()), context=["colour", "x0"],
        settings={"bins": {"x0": [0.0]}, "min_rows": 5},
    )  # fmt: skip
    ens = reg.register("dyn", spec).ref
    Endpoints(root).create("dyn", ens)
    assert wait_until(lambda: _ok(f"{gw}/endpoints/dyn"), timeout=30)
    ids = label_through_the_gateway(gw, "dyn", cat_frame(240, seed=4), ["x0", "colour"])
    assert wait_until(lambda: flushed(root, "dyn", ids), timeout=15)
    now = datetime.now(UTC)
    assert run_stats_task(root, now) is not None
    # Independently: per segment (colour, x0 >= 0), the member with the lowest decayed MSE.
    rows = logged_rows(root, "dyn", ids)
    frame = pd.DataFrame({"x0": rows["x0"], "colour": pd.Categorical(rows["colour"])})
    member_preds = {ref: reg.load(ref).predict(frame) for ref in spec.members}
    rows["segment"] = list(zip(rows["colour"], (rows["x0"] >= 0).astype(int), strict=True))
    chosen = {}
    for seg, part in rows.groupby("segment"):
        idx = part.index.to_numpy()
        errors = [decayed_mse(part, member_preds[m][idx], now) for m in spec.members]
        chosen[seg] = spec.members[int(np.argmin(errors))]
    assert len(chosen) == 6 and len(set(chosen.values())) == 3
    assert wait_until(lambda: stats_revision(gw, "dyn", ens) >= 1, timeout=10)
    # Over HTTP, every row gets the prediction of its segment's chosen member.
    probe = cat_frame(30, seed=5)[["x0", "colour"]]
    answer = post(gw, "/endpoints/dyn/predict", {"instances": records(probe)})
    expected = [
        reg.load(chosen[(c, int(x >= 0))]).predict(probe.iloc[[i]])[0]
        for i, (x, c) in enumerate(zip(probe["x0"], probe["colour"], strict=True))
    ]
    assert answer["predictions"] == pytest.approx(expected, rel=1e-5)
    # Per-member performance is shown by the gateway and the SDK.
    shown = requests.get(f"{gw}/endpoints/dyn", timeout=10).json()["ensembles"][ens]
    assert shown["rows"] == 240 and set(shown["overall"]) == set(spec.members)
    stored = Endpoints(root).performance("dyn")[ens]
    assert stored is not None and stored.segments[0].members.keys() == set(spec.members)


def test_voting_weights_members_by_recent_accuracy(
    gw: str, root: Storage, models: dict[str, str]
) -> None:
    reg = Registry(root)
    refs = [models["v1"], models["v2"], models["v3"]]
    ens = reg.register("vote", EnsembleSpec(kind="voting", members=refs)).ref
    Endpoints(root).create("vote", ens)
    assert wait_until(lambda: _ok(f"{gw}/endpoints/vote"), timeout=30)
    probe = make_frame(10, seed=8)[FEATURES]
    cold = post(gw, "/endpoints/vote/predict", {"instances": records(probe)})["predictions"]
    members = np.column_stack([reg.load(r).predict(probe) for r in refs])
    assert cold == pytest.approx(members.mean(axis=1).tolist(), rel=1e-5)  # cold start: equal
    labeled = make_frame(200, seed=9)
    labeled["y"] += np.random.default_rng(0).normal(scale=0.3, size=len(labeled))
    ids = label_through_the_gateway(gw, "vote", labeled, FEATURES)
    assert wait_until(lambda: flushed(root, "vote", ids), timeout=15)
    now = datetime.now(UTC)
    run_stats_task(root, now)
    rows = logged_rows(root, "vote", ids)
    mse = np.array([decayed_mse(rows, reg.load(r).predict(rows[FEATURES]), now) for r in refs])
    weights = (1 / mse) / (1 / mse).sum()
    assert weights.max() - weights.min() > 0.05  # the members really differ
    assert wait_until(lambda: stats_revision(gw, "vote", ens) >= 1, timeout=10)
    answer = post(gw, "/endpoints/vote/predict", {"instances": records(probe)})["predictions"]
    assert answer == pytest.approx((members @ weights).tolist(), rel=1e-5)


def test_multi_target_endpoint_json_oip_feedback_and_logs(gw: str, root: Storage) -> None:
    import tritonclient.http as httpclient

    reg = Registry(root)
    df = make_frame(200)
    lat = reg.register("lat", train(df, FEATURES)).ref
    cost = reg.register("cost", train(df.assign(y=2 * df["x1"] + 1), FEATURES)).ref
    spec = EnsembleSpec(kind="multi_target", members=[lat, cost], targets=["latency", "cost"])
    perf = reg.register("perf", spec).ref
    Endpoints(root).create("perf", perf)
    assert wait_until(lambda: _ok(f"{gw}/endpoints/perf"), timeout=30)
    probe = make_frame(4, seed=6)[FEATURES]
    want = {"latency": reg.load(lat).predict(probe), "cost": reg.load(cost).predict(probe)}
    # JSON: every target by default, or the ones asked for.
    both = post(gw, "/endpoints/perf/predict", {"instances": records(probe)})
    assert both["targets"] == ["latency", "cost"]
    for t in want:
        assert both["predictions"][t] == pytest.approx(want[t].tolist(), rel=1e-5)
    only = post(gw, "/endpoints/perf/predict", {"instances": records(probe), "targets": ["cost"]})
    assert list(only["predictions"]) == ["cost"]
    bad = requests.post(f"{gw}/endpoints/perf/predict", timeout=10,
                        json={"instances": records(probe), "targets": ["nope"]})  # fmt: skip
    assert bad.status_code == 400 and "latency" in bad.json()["error"]
    # OIP: one output tensor per target; 'outputs' picks them.
    client = httpclient.InferenceServerClient(gw.removeprefix("http://"))
    meta = client.get_model_metadata("perf")
    assert [o["name"] for o in meta["outputs"]] == ["latency", "cost"]
    inputs = []
    for f in FEATURES:
        t = httpclient.InferInput(f, [len(probe)], "FP64")
        t.set_data_from_numpy(probe[f].to_numpy(np.float64))
        inputs.append(t)
    result = client.infer("perf", inputs)
    assert result.as_numpy("cost") == pytest.approx(want["cost"], rel=1e-5)
    assert result.as_numpy("latency") == pytest.approx(want["latency"], rel=1e-5)
    picked = client.infer("perf", inputs, outputs=[httpclient.InferRequestedOutput("cost")])
    assert picked.as_numpy("latency") is None and picked.as_numpy("cost") is not None
    client.close()
    # Feedback per target; a single-target endpoint refuses the per-target form.
    rid = both["request_id"]
    post(gw, "/endpoints/perf/feedback", {"request_id": rid, "actuals": {"cost": [1.0] * 4}})
    post(gw, "/endpoints/perf/feedback", {"request_id": rid, "actuals": [2.0] * 4})  # primary
    wrong = requests.post(f"{gw}/endpoints/perf/feedback", timeout=10,
                          json={"request_id": rid, "actuals": {"speed": [1.0]}})  # fmt: skip
    assert wrong.status_code == 400 and "speed" in wrong.json()["error"]
    start = pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=1)

    def joined_feedback() -> pd.DataFrame:
        # Predictions and feedback are flushed by separate logs: wait until both landed.
        if not flushed(root, "perf", {rid}):
            return pd.DataFrame()
        end = pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=1)
        per = joined_targets(root, "perf", start, end)
        mine = per[(per["request_id"] == rid) & per["actual"].notna()]
        return mine.sort_values(["target", "row"])

    assert wait_until(lambda: len(joined_feedback()) == 8, timeout=15)
    mine = joined_feedback()
    assert mine["target"].tolist() == ["cost"] * 4 + ["latency"] * 4
    expected_errors = [*(want["cost"] - 1.0), *(want["latency"] - 2.0)]
    assert mine["error"].tolist() == pytest.approx(expected_errors, rel=1e-5)
    main = root.read_parquet("logs/perf/predictions/").to_pandas()
    primary = main[main["request_id"] == rid].sort_values("row")["prediction"]
    assert primary.tolist() == pytest.approx(want["latency"].tolist(), rel=1e-5)
