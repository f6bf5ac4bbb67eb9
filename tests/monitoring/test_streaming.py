"""Streaming detectors on the per-row loss stream (acceptance 2) and their persisted state."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pytest
from monitoring_support import FEATURES, T0, endpoint, predict, register, train, write_traffic

from rayops.config import Settings
from rayops.datasets import ConceptDrift, make_regression
from rayops.errors import InvalidInputError
from rayops.monitoring.layout import streams_key
from rayops.monitoring.streaming import (
    Detector,
    DetectorKind,
    feed_streams,
    make_detector,
    read_detections,
)
from rayops.storage import Storage

TRAIN_ROWS, LIVE_ROWS, CHANGE = 4000, 1000, 500
#: Acceptance 2's bound: every detector fires within this many labeled rows after the change.
BOUND = 100
ROWS_PER_REQUEST, EVERY_S = 10, 60.0
SETTINGS = Settings(monitoring_feedback_wait_s=300, monitoring_log_lag_s=10)


def _live(drift: bool):  # type: ignore[no-untyped-def]
    concept = ConceptDrift(at_row=TRAIN_ROWS + 1000 + CHANGE, strength=0.5) if drift else None
    df = make_regression(TRAIN_ROWS + 1000 + LIVE_ROWS, seed=100, concept_drift=concept)
    return df.iloc[:TRAIN_ROWS], df.iloc[TRAIN_ROWS : TRAIN_ROWS + 1000], df.iloc[-LIVE_ROWS:]


def test_error_stream_detectors_fire_after_concept_drift_and_never_on_a_stable_stream(
    local: Storage,
) -> None:
    """Acceptance 2 through the control loop's path: logs -> feed_streams every 20 minutes
    (each call rebuilds every detector from storage, i.e. a restart) on a stream with
    concept drift at labeled row 500, and on the same stream without it.

    Bound: each of ADWIN, Page-Hinkley and KSWIN fires for the first time within
    ``BOUND`` = 100 labeled rows after the change point (measured on the loss stream: ADWIN 12,
    Page-Hinkley 5, KSWIN 39), and never before it; on the stable stream of the same
    length none fires."""
    train_df, hold, drifted = _live(drift=True)
    booster = train(train_df, FEATURES)
    err = predict(booster, hold, FEATURES) - hold["target"]
    mae, rmse = float(np.abs(err).mean()), float(np.sqrt((err**2).mean()))
    holdout = {"mae": mae, "rmse": rmse}
    ref = register(local, "shop", booster, train_df, metrics={"holdout": holdout})
    stable = _live(drift=False)[2]
    assert np.allclose(stable["target"][:CHANGE], drifted["target"][:CHANGE])  # same rows
    for name, live in (("drifted", drifted), ("stable", stable)):
        endpoint(local, name, ref)
        write_traffic(
            local, name, ref, live[FEATURES], predict(booster, live, FEATURES),
            every_s=EVERY_S, rows_per_request=ROWS_PER_REQUEST, actuals=live["target"],
        )  # fmt: skip
    minutes = int(LIVE_ROWS / ROWS_PER_REQUEST * EVERY_S / 60) + 30
    for name in ("drifted", "stable"):
        for m in range(20, minutes + 20, 20):
            feed_streams(local, name, T0 + timedelta(minutes=m), SETTINGS)
    change_time = T0 + timedelta(seconds=EVERY_S * CHANGE / ROWS_PER_REQUEST)
    hits = read_detections(local, "drifted")
    first = {k: min(d.index for d in hits if d.detector == k) for k in DetectorKind}
    for kind, index in first.items():
        assert CHANGE < index <= CHANGE + BOUND, (kind, index)
    assert all(d.time >= change_time and d.stream == "loss" and d.ref == ref for d in hits)
    assert read_detections(local, "stable") == []
    state = local.read_json(streams_key("stable"))["streams"][f"loss:{ref}"]
    assert state["scale"] == pytest.approx(rmse**2)  # the holdout mean of the per-row loss
    assert all(d["n"] == LIVE_ROWS for d in state["detectors"].values())  # every row fed once

    # The same scaled losses through detectors that never stopped: the same detections.
    errors = (predict(booster, drifted, FEATURES) - drifted["target"].to_numpy()) ** 2 / rmse**2
    for kind in DetectorKind:
        det = make_detector(kind, SETTINGS, mode="up")
        uninterrupted = [i + 1 for i, x in enumerate(errors) if det.update(float(x))]
        assert uninterrupted == sorted(d.index for d in hits if d.detector == kind), kind


@pytest.mark.parametrize("kind", list(DetectorKind))
def test_state_round_trip_gives_identical_decisions(kind: DetectorKind) -> None:
    """Stop at every 97th value (through a detection), restore from JSON, go on: the
    decisions are those of a detector that never stopped."""
    settings = Settings(monitoring_ph_threshold=20.0, monitoring_kswin_window=60,
                        monitoring_kswin_stat_size=20, monitoring_kswin_alpha=0.001)  # fmt: skip
    rng = random.Random(5)
    values = [rng.gauss(0, 1) for _ in range(250)] + [rng.gauss(3, 1) for _ in range(250)]
    values += [rng.gauss(0, 1) for _ in range(250)]
    straight = make_detector(kind, settings)
    expected = [i for i, x in enumerate(values) if straight.update(x)]
    assert expected, "the test stream must make the detector fire"
    det: Detector = make_detector(kind, settings)
    got = []
    for i, x in enumerate(values):
        if i % 97 == 0:
            import json

            det = Detector.restore(json.loads(json.dumps(det.state())), settings)
        if det.update(x):
            got.append(i)
    assert got == expected
    assert det.state()["n"] == len(values) and det.detections == len(expected)


def test_changed_settings_start_a_detector_over_and_bad_settings_are_errors() -> None:
    det = make_detector("page_hinkley", Settings())
    for x in range(50):
        det.update(float(x % 3))
    same = Detector.restore(det.state(), Settings())
    assert same.n == 50
    fresh = Detector.restore(det.state(), Settings(monitoring_ph_threshold=7.0))
    assert fresh.n == 0 and fresh.params["threshold"] == 7.0
    with pytest.raises(InvalidInputError, match="Unknown streaming detector"):
        make_detector("cusum", Settings())
    with pytest.raises(InvalidInputError, match="kswin"):
        make_detector("kswin", Settings(monitoring_kswin_window=50, monitoring_kswin_stat_size=80))


def test_kswin_gets_an_evenly_spaced_subsample_of_a_busy_pass() -> None:
    from rayops.monitoring.streaming import _Stream

    settings = Settings()
    stream = _Stream.load(None, "error:m@1", 0.0, 2.0, ["adwin", "kswin"], "up", settings)
    stream.feed(np.arange(1000, dtype=float), kswin_max=100)
    assert stream.detectors["adwin"].n == 1000 and stream.detectors["kswin"].n == 100
    assert stream.to_doc()["scale"] == 2.0
