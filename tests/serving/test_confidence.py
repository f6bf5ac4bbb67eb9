"""A served version's uncertainty without HTTP: sets equal crepes' own, calibration only when
it helped, intervals per level, and the options' checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rayops.serving.confidence import Confidence
from rayops.serving.options import NONE, InvalidOptionError, RequestOptions
from rayops.tasks import Task
from rayops.training.uncertainty import fit_uncertainty
from rayops.uncertainty.sets import SetModel


def _classifier_doc(seed: int, k: int, overconfident: bool) -> tuple[dict[str, Any], np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(k) * (0.3 if overconfident else 1.0), 3000)
    truth = p if not overconfident else (p + 1.0 / k) / 2  # the truth is less extreme
    y = np.array([rng.choice(k, p=row / row.sum()) for row in truth])
    doc = fit_uncertainty(Task.of("binary" if k == 2 else "multiclass"), y, p)
    assert doc is not None
    return doc, p


@pytest.mark.parametrize("k", [2, 3, 5])
def test_vectorized_sets_are_crepes_sets(k: int) -> None:
    doc, p = _classifier_doc(k, k, overconfident=False)
    task = Task.of("binary" if k == 2 else "multiclass")
    c = Confidence.of("m@1.0.0", task, list(range(k)), doc)
    model = SetModel.from_json(doc["sets"])
    test = np.vstack([p[:300], 1.0 - model.scores[:50, None].repeat(k, 1)])  # exact ties too
    for level in (0.5, 0.8, 0.9, 0.95, 0.99):
        served = c.set_matrix(c.calibrate(test), level)
        assert (served == model.sets(c.calibrate(test), level)).all(), level
    sets = c.prediction_sets(c.calibrate(p[:5]), 0.9)
    assert all(s == sorted(s) for s in sets)


def test_calibration_is_served_only_when_it_lowered_the_log_loss() -> None:
    doc, p = _classifier_doc(0, 2, overconfident=True)
    c = Confidence.of("m@1.0.0", Task.of("binary"), ["no", "yes"], doc)
    assert doc["calibration"]["method"] != "none"
    assert c.calibration == doc["calibration"]["method"]
    assert not np.allclose(c.calibrate(p[:10]), p[:10])
    worse = {**doc, "calibration": {**doc["calibration"], "logloss_after": 9.0}}
    assert Confidence.of("m@1.0.0", Task.of("binary"), ["no", "yes"], worse).calibrator is None
    none = {**doc, "calibration": {**doc["calibration"], "method": "none"}}
    assert Confidence.of("m@1.0.0", Task.of("binary"), ["no", "yes"], none).calibration is None


def test_intervals_per_level_and_what_cannot_be_bounded() -> None:
    y = np.random.default_rng(0).normal(size=500)
    doc = fit_uncertainty(Task.of("regression"), y, np.zeros(500))
    c = Confidence.of("m@1.0.0", Task.of("regression"), None, doc)
    lo80, hi80 = c.interval(np.array([1.0, 2.0]), 0.8, {})
    lo95, hi95 = c.interval(np.array([1.0, 2.0]), 0.95, {})
    centre = np.array([1.0, 2.0])
    assert (hi95 - lo95 > hi80 - lo80).all()
    np.testing.assert_allclose(hi80 - centre, centre - lo80)  # symmetric around the prediction
    assert abs(float(hi80[0] - 1.0) - 1.2816) < 0.2  # about the normal residuals' 80% quantile
    with pytest.raises(InvalidOptionError, match="500 calibration rows of m@1.0.0 can bound"):
        c.check_interval(0.999)
    with pytest.raises(InvalidOptionError, match="'prediction_set' is for classifiers"):
        c.check_set()
    bare = Confidence.of("m@2.0.0", Task.of("regression"), None, None)
    with pytest.raises(InvalidOptionError, match="m@2.0.0 has no calibration data"):
        bare.check_interval()


def test_request_options_parse_and_refuse() -> None:
    assert RequestOptions.parse({"instances": []}) is NONE
    opts = RequestOptions.parse({"top_k": 3, "approx": True, "prediction_set": 0.8})
    assert opts.explain and opts.top_k == 3 and opts.approx and opts.prediction_set == 0.8
    assert opts.extras and not NONE.extras
    for bad, words in (({"top_k": True}, "top_k"), ({"interval": float("nan")}, "interval"),
                       ({"calibrate": 1}, "calibrate"), ({"approx": True}, "approx")):  # fmt: skip
        with pytest.raises(InvalidOptionError, match=words):
            RequestOptions.parse(bad)
