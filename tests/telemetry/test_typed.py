"""Logs are typed Parquet any Arrow tool reads: a column per feature and class; schemas evolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as pads

from rayops.storage import Storage, open_storage
from rayops.telemetry.readers import features, probabilities, read_predictions
from rayops.telemetry.writers import PredictionLog, Scored

T = datetime(2026, 7, 1, 12, tzinfo=UTC)


def test_plain_pyarrow_reads_typed_columns_with_hive_partitions(storage: Storage) -> None:
    log = PredictionLog(storage, flush_s=3600)
    frame = pd.DataFrame({"age": [31.0, np.nan], "plan": pd.Categorical(["pro", None])})
    log.record(request_id="a", endpoint="shop", ref="m@1.0.0", frame=frame,
               predictions=[0.5, 1.5], latency_ms=2.0, time=T)  # fmt: skip
    log.close()
    fs, base = storage.arrow_filesystem()
    data = pads.dataset(f"{base}/logs/shop/predictions", filesystem=fs, partitioning="hive")
    table = data.to_table()
    types = {f.name: str(f.type) for f in table.schema}
    assert types["f_age"] == "double" and types["f_plan"] == "string"
    assert types["prediction"] == "double" and types["time"] == "timestamp[us, tz=UTC]"
    assert types["row"] == "int32" and "date" in types  # the hive partition column
    got = table.to_pandas()
    assert got["f_age"].tolist()[0] == 31.0 and pd.isna(got["f_age"][1])
    assert got["f_plan"][0] == "pro" and pd.isna(got["f_plan"][1])


def test_a_schema_change_between_versions_reads_as_one_table_with_nulls(storage: Storage) -> None:
    log = PredictionLog(storage, flush_s=3600)
    log.record(request_id="v1", endpoint="shop", ref="m@1.0.0",
               frame=pd.DataFrame({"x": [1.0], "y": [2.0]}), predictions=[1.0],
               latency_ms=1.0, time=T)  # fmt: skip
    log.flush()
    log.record(request_id="v2", endpoint="shop", ref="m@2.0.0",
               frame=pd.DataFrame({"x": [3.0], "z": pd.Categorical(["b"])}), predictions=[2.0],
               latency_ms=1.0, time=T + timedelta(minutes=1))  # fmt: skip
    log.close()
    rows = read_predictions(storage, "shop", T, T + timedelta(hours=1)).sort_values("request_id")
    got = features(rows)
    assert list(got.columns) == ["x", "y", "z"]
    assert got["x"].tolist() == [1.0, 3.0]
    assert got["y"].iloc[0] == 2.0 and pd.isna(got["y"].iloc[1])
    assert pd.isna(got["z"].iloc[0]) and got["z"].iloc[1] == "b"


def test_plain_pyarrow_reads_a_schema_change_as_the_readme_shows(tmp_path: Path) -> None:
    """The README's snippet: files of two versions with different features, read with
    pyarrow alone after unifying the files' schemas (plain ``ds.dataset`` would keep the
    first file's schema and drop columns added later)."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    storage = open_storage(str(tmp_path))
    log = PredictionLog(storage, flush_s=3600)
    log.record(request_id="v1", endpoint="shop", ref="m@1.0.0",
               frame=pd.DataFrame({"x": [1.0]}), predictions=[1.0], latency_ms=1.0,
               time=T)  # fmt: skip
    log.flush()
    log.record(request_id="v2", endpoint="shop", ref="m@2.0.0",
               frame=pd.DataFrame({"x": [3.0], "z": pd.Categorical(["b"])}), predictions=[2.0],
               latency_ms=1.0, time=T + timedelta(minutes=1))  # fmt: skip
    log.close()
    path = str(tmp_path / "logs" / "shop" / "predictions")
    d = ds.dataset(path, partitioning="hive")
    schema = pa.unify_schemas([f.physical_schema for f in d.get_fragments()]
                              + [d.partitioning.schema])  # fmt: skip
    t = ds.dataset(path, schema=schema, partitioning="hive").to_table().to_pandas()
    t = t.sort_values("request_id")
    assert t["f_x"].tolist() == [1.0, 3.0]
    assert pd.isna(t["f_z"].iloc[0]) and t["f_z"].iloc[1] == "b"
    assert t["date"].notna().all()


def test_classifier_rows_carry_a_label_and_a_probability_per_class(storage: Storage) -> None:
    log = PredictionLog(storage, flush_s=3600)
    proba = np.array([[0.2, 0.8], [0.9, 0.1]])
    log.record(request_id="c", endpoint="churn", ref="c@1.0.0",
               frame=pd.DataFrame({"x": [1.0, 2.0]}),
               predictions=Scored(probabilities=proba, classes=[False, True],
                                  labels=[True, False]),
               latency_ms=1.0, time=T)  # fmt: skip
    log.record(request_id="r", endpoint="churn", ref="c@1.0.0",
               frame=pd.DataFrame({"x": [3.0]}),
               predictions=Scored(probabilities=np.array([[0.4, 0.6]]), classes=[False, True],
                                  labels=[True]),
               latency_ms=1.0, time=T)  # fmt: skip
    log.close()
    rows = read_predictions(storage, "churn", T, T + timedelta(hours=1))
    rows = rows.sort_values(["request_id", "row"]).reset_index(drop=True)
    assert rows["label"].tolist() == ["True", "False", "True"]
    assert rows["prediction"].isna().all()
    np.testing.assert_allclose(
        probabilities(rows, [False, True]), [[0.2, 0.8], [0.9, 0.1], [0.4, 0.6]]
    )
