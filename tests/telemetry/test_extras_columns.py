"""The prediction log's lower/upper/pset and c_ columns: typed, null for requests that did not
ask, one batch mixing requests that asked and requests that did not."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from rayops.storage import Storage
from rayops.telemetry.writers import PredictionLog, Scored


def test_bounds_sets_and_contributions_are_typed_and_null_when_not_asked(
    storage: Storage,
) -> None:
    log = PredictionLog(storage, flush_s=3600)
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [0.5, 0.1]})
    common = {"endpoint": "ep", "ref": "m@1.0.0", "frame": frame, "latency_ms": 1.0}
    log.record(request_id="plain", predictions=[1.0, 2.0], **common)
    log.record(
        request_id="bounded",
        predictions=Scored(
            values=np.array([1.0, 2.0]), lower=np.array([0.5, 1.5]), upper=np.array([1.5, 2.5])
        ),  # fmt: skip
        **common,
    )
    contributions = np.array([[0.2, 0.3, 0.5], [1.0, 0.5, 0.5]])
    log.record(
        request_id="explained",
        predictions=Scored(values=np.array([1.0, 2.0]), contributions=(["x", "y"], contributions)),
        **common,
    )
    log.record(
        request_id="sets",
        endpoint="cls",
        ref="c@1.0.0",
        frame=frame,
        latency_ms=1.0,
        predictions=Scored(
            probabilities=np.array([[0.2, 0.8], [0.6, 0.4]]),
            classes=["a", "b"],
            labels=["b", "a"],
            pset=['["b"]', '["a", "b"]'],
        ),  # fmt: skip
    )
    log.close()
    table = storage.read_parquet("logs/ep/predictions/")
    for name in ("lower", "upper", "c_x", "c_y", "c_bias"):
        assert str(table.schema.field(name).type) == "double", name
    t = table.to_pandas().set_index(["request_id", "row"]).sort_index()
    assert t.loc["bounded", "lower"].tolist() == [0.5, 1.5]
    assert t.loc["bounded", "upper"].tolist() == [1.5, 2.5]
    for rid in ("plain", "explained"):
        assert t.loc[rid, "lower"].isna().all() and t.loc[rid, "pset"].isna().all()
    assert t.loc["explained", "c_bias"].tolist() == [0.5, 0.5]
    assert t.loc[["plain", "bounded"], "c_x"].isna().all()  # other requests have no c_ values
    c = storage.read_parquet("logs/cls/predictions/").to_pandas().sort_values("row")
    assert str(storage.read_parquet("logs/cls/predictions/").schema.field("pset").type) == "string"
    assert [json.loads(v) for v in c["pset"]] == [["b"], ["a", "b"]]
    assert c["lower"].isna().all() and not any(n.startswith("c_") for n in c.columns)
