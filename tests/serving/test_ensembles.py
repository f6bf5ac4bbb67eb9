"""Dynamic selection and voting: segments, the stats task, the combination rules, cold start."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from serving_support import FEATURES, make_frame, train

from rayops.config import Settings
from rayops.errors import InvalidInputError
from rayops.registry import EnsembleSpec, Registry
from rayops.serving import Endpoints
from rayops.serving.ensemble_stats import EnsembleStatsTask, compute_stats
from rayops.serving.ensembles import Combiner, Segmenter, combiner_for, read_stats, stats_key
from rayops.serving.models import evaluate
from rayops.storage import Storage, open_storage
from rayops.telemetry.writers import FeedbackLog, PredictionLog

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def independent_choice(
    frame: pd.DataFrame, actual: np.ndarray, preds: dict[str, np.ndarray], ages_s: np.ndarray,
    half_life: float, segment: pd.Series, min_rows: int,
) -> dict[object, str]:  # fmt: skip
    """Per segment, the member with the lowest decayed MSE, computed with pandas alone."""
    w = 0.5 ** (ages_s / half_life)
    long = pd.DataFrame({"segment": segment.to_numpy(), "w": w})
    for ref, p in preds.items():
        long[ref] = w * (p - actual) ** 2
    sums = long.groupby("segment", dropna=False).sum()
    counts = long.groupby("segment", dropna=False).size()
    members = list(preds)
    out = {}
    for seg, row in sums.iterrows():
        if counts[seg] >= min_rows:
            mse = [row[m] / row["w"] for m in members]
            out[seg] = members[int(np.argmin(mse))]
    return out


def test_segments_bin_numbers_and_keep_categories() -> None:
    seg = Segmenter(["c", "x"], {"x": [0.0, 1.0]})
    frame = pd.DataFrame({"c": ["a", None, "b", "a"], "x": [-1.0, 0.0, 1.0, float("nan")]})
    assert seg.labels(frame) == [("a", 0), (None, 1), ("b", 2), ("a", None)]
    assert Segmenter([], {}).labels(frame) == [(), (), (), ()]


def test_stats_pick_the_member_an_independent_computation_picks() -> None:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"c": rng.choice(["a", "b"], n), "x": rng.normal(size=n)})
    actual = rng.normal(size=n)
    # m1 is good where c == "a", m2 where c == "b"; m3 is mediocre everywhere.
    good_a = np.where(frame["c"] == "a", 0.1, 2.0)
    preds = {
        "m1@1.0.0": actual + rng.normal(scale=good_a),
        "m2@1.0.0": actual + rng.normal(scale=2.1 - good_a),
        "m3@1.0.0": actual + rng.normal(scale=1.0, size=n),
    }
    ages = rng.uniform(0, 7200, size=n)
    times = pd.Series(pd.Timestamp(NOW) - pd.to_timedelta(ages, unit="s"))
    spec = EnsembleSpec(kind="dynamic", members=list(preds), context=["c", "x"])
    bins = {"x": [0.0]}
    doc = compute_stats(
        "dyn@1.0.0", spec, frame, actual, times, preds, now=NOW, window_start=NOW - timedelta(1),
        half_life_s=1800.0, min_rows=10, tolerance=0.5, bins=bins,
    )  # fmt: skip
    segment = frame["c"] + "/" + (frame["x"] >= 0).astype(int).astype(str)
    expected = independent_choice(frame, actual, preds, ages, 1800.0, segment, 10)
    combiner = combiner_for(spec, doc)
    for seg in doc.segments:
        key = f"{seg.values[0]}/{seg.values[1]}"
        assert doc.best_member(seg.values) == expected[key], key
        assert combiner.member_for(seg.values) == expected[key]
    assert {expected[k] for k in expected} >= {"m1@1.0.0", "m2@1.0.0"}
    # Decayed MSE of the global level, recomputed by hand.
    w = 0.5 ** (ages / 1800.0)
    for ref, p in preds.items():
        assert doc.overall[ref].mse == pytest.approx(np.sum(w * (p - actual) ** 2) / w.sum())
        within = np.sum(w * (np.abs(p - actual) <= 0.5)) / w.sum()
        assert doc.overall[ref].accuracy == pytest.approx(within)
    # Per row: each row gets exactly its segment's member.
    weights = combiner.weights(frame)
    chosen = [spec.members[int(np.argmax(r))] for r in weights]
    assert chosen == [expected[s] for s in segment]
    assert np.all(weights.max(axis=1) == 1.0)


def test_rules_for_ties_unseen_segments_few_rows_and_cold_start() -> None:
    members = ["a@1", "b@1"]
    frame = pd.DataFrame({"c": ["x"] * 6 + ["y"] * 2})
    actual = np.zeros(8)
    times = pd.Series([pd.Timestamp(NOW)] * 8)
    # Segment x: equal errors (a tie -> the first member). Segment y: b better, 2 rows only.
    preds = {"a@1": np.array([1.0] * 6 + [3.0] * 2), "b@1": np.array([-1.0] * 6 + [0.0] * 2)}
    kwargs = dict(now=NOW, window_start=NOW, half_life_s=60.0, tolerance=1.0, bins={})
    for kind in ("dynamic", "voting"):
        spec = EnsembleSpec(kind=kind, members=members, context=["c"], weights=[3, 1])
        doc = compute_stats("e@1", spec, frame, actual, times, preds, min_rows=3, **kwargs)
        comb = combiner_for(spec, doc)
        probe = pd.DataFrame({"c": ["x", "y", "never-seen"]})
        w = comb.weights(probe)
        # y has 2 < min_rows rows and "never-seen" no rows: both use the global level.
        global_mse = np.array([doc.overall[m].mse for m in members])
        assert global_mse[0] > global_mse[1]  # b is better overall (a misses y by 3)
        if kind == "dynamic":
            assert w[0].tolist() == [1.0, 0.0]  # tie in x -> first member
            assert w[1].tolist() == w[2].tolist() == [0.0, 1.0]
        else:
            assert w[0] == pytest.approx([0.5, 0.5])  # equal MSE, equal votes
            inv = 1 / global_mse
            assert w[1] == pytest.approx(inv / inv.sum()) and w[2] == pytest.approx(w[1])
        # Cold start and too few rows overall: the spec's weights.
        assert combiner_for(spec, None).weights(probe)[0] == pytest.approx([0.75, 0.25])
        few = compute_stats("e@1", spec, frame, actual, times, preds, min_rows=100, **kwargs)
        assert combiner_for(spec, few).weights(probe)[2] == pytest.approx([0.75, 0.25])


def test_cold_start_uses_the_normalized_spec_weights() -> None:
    comb = Combiner("voting", ["a", "b", "c"], [2, 1, 1], [])
    assert not comb.adaptive
    assert comb.weights(pd.DataFrame({"x": [1.0, 2.0]})).tolist() == [[0.5, 0.25, 0.25]] * 2


def _log_rows(root: Storage, endpoint: str, ref: str, frame: pd.DataFrame, actual: np.ndarray,
              times: list[datetime]) -> None:  # fmt: skip
    log = PredictionLog(root, flush_s=3600)
    feedback = FeedbackLog(root, now=lambda: NOW)
    for i in range(len(frame)):
        rid = f"{endpoint}-{i}"
        log.record(
            request_id=rid, endpoint=endpoint, ref=ref, frame=frame.iloc[[i]],
            predictions=[0.0], latency_ms=1.0, time=times[i],
        )  # fmt: skip
        asyncio.run(feedback.write(endpoint, rid, [float(actual[i])]))
    log.close()


@pytest.mark.parametrize("storage", ["local", "s3"], indirect=True)
def test_task_writes_stats_that_the_combination_follows(storage: Storage) -> None:
    reg = Registry(storage)
    df = make_frame(300, seed=1)
    low = df[df["x0"] < 0]
    high = df[df["x0"] >= 0]
    a = reg.register("lo", train(low, FEATURES, depth=4)).ref  # trained where x0 < 0
    b = reg.register("hi", train(high, FEATURES, depth=4)).ref  # trained where x0 >= 0
    spec = EnsembleSpec(
        kind="dynamic", members=[a, b], context=["x0"], settings={"bins": {"x0": [0.0]}}
    )
    ens = reg.register("dyn", spec).ref
    Endpoints(storage).create("dyn", ens)
    rows = make_frame(120, seed=2)
    times = [NOW - timedelta(minutes=120 - i) for i in range(len(rows))]
    _log_rows(storage, "dyn", ens, rows[FEATURES], rows["y"].to_numpy(), times)
    settings = Settings(storage=storage.uri, serving_ensemble_min_rows=10)
    task = EnsembleStatsTask(storage, settings)
    summary = task.tick(NOW)
    assert summary == {"ensembles": 1, "rows": {ens: 120}}
    doc = read_stats(storage, ens)
    assert doc is not None and doc.revision == 1 and doc.bins == {"x0": [0.0]}
    assert {tuple(s.values) for s in doc.segments} == {(0,), (1,)}
    assert doc.best_member([0]) == a and doc.best_member([1]) == b
    # A restarted task recomputes the same numbers; the revision moves on (compare-and-swap).
    again = EnsembleStatsTask(storage, settings)
    again.tick(NOW)
    second = read_stats(storage, ens)
    assert second is not None and second.revision == 2
    assert second.overall == doc.overall
    assert storage.exists(stats_key(ens))
    # Serving with these stats: each row gets its region's member.
    predictor = reg.load(ens)
    probe = make_frame(20, seed=3)[FEATURES]
    got = evaluate(predictor, probe, {ens: combiner_for(predictor.spec, second)})
    want = np.where(probe["x0"] < 0, reg.load(a).predict(probe), reg.load(b).predict(probe))
    assert got == pytest.approx(want, rel=1e-6)
    # Per-member performance through the SDK.
    perf = Endpoints(storage).performance("dyn")
    assert perf[ens] is not None and set(perf[ens].overall) == {a, b}


def test_ensemble_specs_are_validated(tmp_path: object) -> None:
    with pytest.raises(ValueError, match="one target name per member"):
        EnsembleSpec(kind="multi_target", members=["a@1.0.0", "b@1.0.0"], targets=["x"])
    with pytest.raises(ValueError, match="context is only used"):
        EnsembleSpec(kind="weighted", members=["a@1.0.0"], context=["x"])
    with pytest.raises(ValueError, match="targets are only used"):
        EnsembleSpec(kind="voting", members=["a@1.0.0"], targets=["x"])
    with pytest.raises(ValueError, match="increasing"):
        EnsembleSpec(kind="dynamic", members=["a@1.0.0"], settings={"bins": {"x": [2, 1]}})
    with pytest.raises(ValueError, match="Extra inputs"):
        EnsembleSpec(kind="dynamic", members=["a@1.0.0"], settings={"window": 3})
    reg = Registry(open_storage(str(tmp_path)))
    a = reg.register("a", train(make_frame(), FEATURES)).ref
    with pytest.raises(InvalidInputError, match="Context column 'nope'"):
        reg.register("d", EnsembleSpec(kind="dynamic", members=[a], context=["nope"]))
    doc = json.loads(json.dumps(EnsembleSpec(kind="voting", members=[a]).model_dump()))
    assert EnsembleSpec.model_validate(doc).kind == "voting"
