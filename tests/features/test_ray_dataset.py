"""Feature sets as Ray Datasets, read on the session's Ray cluster."""

from __future__ import annotations

import pandas as pd

from rayops.features import FeatureStore
from rayops.storage import Storage


def test_to_ray_dataset_reads_every_part_with_projection(
    storage: Storage, ray_cluster: object
) -> None:
    from rayops.config import Settings

    fs = FeatureStore(storage, settings=Settings(features_rows_per_file=40))
    df = pd.DataFrame({"k": range(100), "x": [i * 0.5 for i in range(100)], "s": ["a"] * 100})
    v = fs.write("rayds", df)
    assert len(v.files) == 3
    ds = fs.to_ray_dataset("rayds", columns=["k", "x"])
    got = ds.to_pandas().sort_values("k").reset_index(drop=True)
    assert list(got.columns) == ["k", "x"]
    pd.testing.assert_frame_equal(got, df[["k", "x"]], check_dtype=False)
