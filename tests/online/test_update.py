"""The in-process incremental update and its gate, without storage."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from online_support import DRIFT_AT, FEATURES, PARAMS

from rayops.gate import compare
from rayops.online.config import UpdateMode
from rayops.online.cycle import decay_weights, online_params
from rayops.online.update import Batch, ModelSchema, incremental_update
from rayops.registry import Registry
from rayops.storage import Storage

TYPES = ["c" if f.startswith("cat") else "float" for f in FEATURES]


def logged(frame: pd.DataFrame) -> list[str]:
    """Rows as the gateway logs them: one JSON object per row, categories as strings."""
    records = frame[FEATURES].astype(object).where(frame[FEATURES].notna(), None)
    return [json.dumps(r, default=str) for r in records.to_dict(orient="records")]


def batch(frame: pd.DataFrame) -> Batch:
    return Batch(logged(frame), frame["target"].to_numpy(dtype="float64"))


@pytest.mark.parametrize("mode", list(UpdateMode))
def test_each_mode_adapts_to_concept_drift_and_passes_the_gate(
    pre_drift: xgb.Booster, drifted: pd.DataFrame, mode: UpdateMode
) -> None:
    post = drifted.iloc[DRIFT_AT:]
    booster = pre_drift.copy()
    out = incremental_update(
        booster, ModelSchema.of(booster, FEATURES, TYPES), batch(post.iloc[:400]),
        batch(post.iloc[400:500]), mode=mode, rounds=10, params=online_params(PARAMS, _s()),
        min_improvement=0.01, alpha=0.05,
    )  # fmt: skip
    assert out.gate.accepted, out.gate.reason
    assert out.after["mae"] < 0.8 * out.before["mae"]
    assert out.gate.paired and "holdout rmse" in out.gate.reason
    extra = 10 if mode is not UpdateMode.REFRESH else 0
    assert out.booster.num_boosted_rounds() == pre_drift.num_boosted_rounds() + extra
    # The parent's score is the untouched booster's.
    parent = pre_drift.predict(xgb.DMatrix(post.iloc[400:500][FEATURES], enable_categorical=True))
    assert out.before["mae"] == pytest.approx(
        float(np.mean(np.abs(parent - post["target"].iloc[400:500])))
    )
    assert set(out.timings_ms) == {"matrix_ms", "adapt_ms", "gate_ms", "total_ms"}


def test_logged_rows_map_to_the_boosters_own_categories(
    pre_drift: xgb.Booster, drifted: pd.DataFrame
) -> None:
    """A batch that holds only some categories (or an unseen one) still means what the
    model learned: predictions from logged JSON equal predictions from the frame."""
    schema = ModelSchema.of(pre_drift, FEATURES, TYPES)
    assert schema.categories == {
        "cat_0": ["c0", "c1", "c2", "c3"],
        "cat_1": ["c0", "c1", "c2", "c3"],
    }
    for rows in (drifted[drifted["cat_0"] == "c3"].iloc[:20], drifted.iloc[:1_500]):
        from_frame = pre_drift.predict(xgb.DMatrix(rows[FEATURES], enable_categorical=True))
        for training in (True, False):  # Arrow dictionaries, or codes in a float matrix
            from_log = pre_drift.predict(schema.matrix(logged(rows), training=training))
            assert from_log == pytest.approx(from_frame, rel=1e-6)
    rows = drifted[drifted["cat_0"] == "c3"].iloc[:20]
    unseen = json.loads(logged(rows.iloc[:1])[0]) | {"cat_0": "never-seen", "num_3": None}
    missing = rows.iloc[:1][FEATURES].copy()
    missing["cat_0"] = pd.Categorical([None], categories=["c0", "c1", "c2", "c3"])
    missing["num_3"] = np.nan
    for training in (True, False):
        assert pre_drift.predict(schema.matrix([unseen], training=training)) == pytest.approx(
            pre_drift.predict(xgb.DMatrix(missing, enable_categorical=True)), rel=1e-6
        )
    # Continuing on such a batch works (XGBoost refuses a different category set).
    out = incremental_update(
        pre_drift.copy(), schema, batch(rows), batch(rows.iloc[:5]), mode=UpdateMode.CONTINUE,
        rounds=2, params=online_params(PARAMS, _s()), min_improvement=0.0, alpha=1.0,
    )  # fmt: skip
    assert out.booster.num_boosted_rounds() == pre_drift.num_boosted_rounds() + 2


def test_numeric_only_models_take_the_numpy_path(local: Storage) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    y = 3 * X["a"] - X["b"]
    booster = xgb.train({"nthread": 1, "max_depth": 3}, xgb.DMatrix(X, y), 20)
    schema = ModelSchema.of(booster, ["a", "b", "c"], None)
    assert schema.categories == {}
    rows = [json.dumps(r) for r in X.to_dict(orient="records")]
    assert booster.predict(schema.matrix(rows)) == pytest.approx(booster.predict(xgb.DMatrix(X)))
    many = pd.concat([X] * 5, ignore_index=True)  # above the Python path's size: via Arrow
    rows = [json.dumps(r) for r in many.to_dict(orient="records")]
    assert booster.predict(schema.matrix(rows)) == pytest.approx(booster.predict(xgb.DMatrix(many)))
    # Registered and loaded back, the same schema comes out.
    reg = Registry(local)
    loaded = reg.load(reg.register("plain", booster).ref).booster  # type: ignore[union-attr]
    assert ModelSchema.of(loaded, ["a", "b", "c"], None) == schema


def test_the_update_gate_is_the_shared_gate_on_paired_holdout_losses(
    pre_drift: xgb.Booster, drifted: pd.DataFrame
) -> None:
    """online_min_improvement and online_gate_alpha mean what they meant, on the task's
    primary metric: the verdict is rayops.gate.compare on the same holdout rows."""
    post = drifted.iloc[DRIFT_AT:]
    hold = post.iloc[400:430]
    y = hold["target"].to_numpy()
    test = xgb.DMatrix(hold[FEATURES], enable_categorical=True)
    parent_loss = (pre_drift.predict(test) - y) ** 2
    for min_improvement, alpha in ((0.01, 0.05), (0.99, 0.05), (0.0, 1.0)):
        booster = pre_drift.copy()
        out = incremental_update(
            booster, ModelSchema.of(booster, FEATURES, TYPES), batch(post.iloc[:400]),
            batch(hold), mode=UpdateMode.CONTINUE, rounds=10,
            params=online_params(PARAMS, _s()), min_improvement=min_improvement, alpha=alpha,
        )  # fmt: skip
        candidate_loss = (out.booster.predict(test) - y) ** 2
        expected = compare(candidate_loss, parent_loss, min_improvement=min_improvement,
                           alpha=alpha, paired=True)  # fmt: skip
        assert out.gate.accepted == expected.accepted
        assert out.gate.p_better == pytest.approx(expected.p_better, abs=1e-9)
        assert out.gate.improvement == pytest.approx(expected.improvement, rel=1e-6)
        assert out.before["rmse"] == pytest.approx(float(np.sqrt(parent_loss.mean())), rel=1e-6)
    assert not out.gate.reason.startswith("better") or alpha == 1.0
    # A 99% improvement is more than drift adaptation gives: rejected, saying why.
    strict = incremental_update(
        pre_drift.copy(), ModelSchema.of(pre_drift, FEATURES, TYPES), batch(post.iloc[:400]),
        batch(hold), mode=UpdateMode.CONTINUE, rounds=10, params=online_params(PARAMS, _s()),
        min_improvement=0.99, alpha=0.05,
    )  # fmt: skip
    assert not strict.gate.accepted and "needs -99.0%" in strict.gate.reason


def test_the_update_gate_counts_requests_not_rows(
    pre_drift: xgb.Booster, drifted: pd.DataFrame
) -> None:
    """30 holdout rows from 6 requests of 5 rows: the paired test is over 6 per-request
    mean losses, as compare(groups=...) computes it, not over 30 rows."""
    post = drifted.iloc[DRIFT_AT:]
    hold = post.iloc[400:430]
    ids = np.repeat([f"r{i}" for i in range(6)], 5)
    y = hold["target"].to_numpy()
    test = xgb.DMatrix(hold[FEATURES], enable_categorical=True)
    parent_loss = (pre_drift.predict(test) - y) ** 2
    grouped = dataclasses.replace(batch(hold), groups=ids)
    out = incremental_update(
        pre_drift.copy(), ModelSchema.of(pre_drift, FEATURES, TYPES), batch(post.iloc[:400]),
        grouped, mode=UpdateMode.CONTINUE, rounds=10, params=online_params(PARAMS, _s()),
        min_improvement=0.0, alpha=0.05,
    )  # fmt: skip
    candidate_loss = (out.booster.predict(test) - y) ** 2
    expected = compare(candidate_loss, parent_loss, min_improvement=0.0, alpha=0.05,
                       paired=True, groups=ids)  # fmt: skip
    rows = compare(candidate_loss, parent_loss, min_improvement=0.0, alpha=0.05, paired=True)
    assert out.gate.n_candidate == expected.n_candidate == 6 and rows.n_candidate == 30
    assert out.gate.p_better == pytest.approx(expected.p_better, abs=1e-9)
    assert out.gate.p_better != pytest.approx(rows.p_better, abs=1e-6)


def test_decay_weights_and_online_params() -> None:
    t = pd.Series(pd.to_datetime(["2026-01-01T00:00", "2026-01-01T12:00"], utc=True))
    now = pd.Timestamp("2026-01-02T00:00", tz="UTC")
    assert decay_weights(t, now, 43_200).tolist() == pytest.approx([0.25, 0.5])  # type: ignore[union-attr]
    assert decay_weights(t, now, 0) is None
    p = online_params({**PARAMS, "n_estimators": 150, "updater": "refresh"}, _s())
    assert p["eta"] == 0.2 and p["nthread"] == 1 and "updater" not in p


def _s():  # type: ignore[no-untyped-def]
    from rayops.config import Settings

    return Settings()


def test_the_fast_update_loop_builds_exactly_what_xgb_train_builds(
    pre_drift: xgb.Booster, drifted: pd.DataFrame
) -> None:
    """boost_more / refresh_leaves skip XGBoost's per-iteration feature checks; the models
    they produce must stay identical to xgb.train's (this fails if XGBoost changes)."""
    from rayops.training.finetune import boost_more, refresh_leaves

    rows = drifted.iloc[DRIFT_AT : DRIFT_AT + 300]
    dtrain = xgb.DMatrix(rows[FEATURES], rows["target"], enable_categorical=True)
    test = xgb.DMatrix(drifted.iloc[-500:][FEATURES], enable_categorical=True)
    p = online_params(PARAMS, _s())
    expected = xgb.train(p, dtrain, 7, xgb_model=pre_drift.copy()).predict(test)
    assert boost_more(pre_drift, dtrain, p, 7).predict(test) == pytest.approx(expected, abs=1e-6)
    refresh = {**p, "process_type": "update", "updater": "refresh", "refresh_leaf": True}
    with warnings.catch_warnings():  # XGBoost warns about the named updater (once)
        warnings.filterwarnings("ignore", message=".*updater.*", category=UserWarning)
        expected = xgb.train(refresh, dtrain, 150, xgb_model=pre_drift.copy()).predict(test)
    assert refresh_leaves(pre_drift, dtrain, p).predict(test) == pytest.approx(expected, abs=1e-6)
