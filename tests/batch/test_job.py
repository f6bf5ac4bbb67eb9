"""run_batch on Ray Data: outputs, manifest, lineage, metrics, resume and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_models import register_all, rows

from rayops.batch import get_job, list_jobs, run_batch
from rayops.batch.spec import manifest_key
from rayops.config import Settings
from rayops.errors import InvalidInputError, NotFoundError, RayopsError
from rayops.features import FeatureStore
from rayops.registry import Registry
from rayops.storage import Storage, open_storage
from rayops.tasks import Labels, Task

#: Small parts so that every job has several (and both scoring actors work).
SMALL = {"features_rows_per_file": 400, "features_batch_rows": 100, "batch_rows_per_part": 200}


def _settings(storage: Storage) -> Settings:
    base = getattr(storage, "settings", None) or Settings()
    return base.override(storage=storage.uri, **SMALL)


def _outputs(storage: Storage, manifest: Any) -> pd.DataFrame:
    keys = [f"batch/{manifest.job_id}/{p.name}" for p in manifest.parts]
    return pd.concat([storage.read_parquet(k).to_pandas() for k in keys], ignore_index=True)


@pytest.fixture
def scored(storage: Storage, boosters: Any, ray_cluster: Any) -> dict[str, Any]:
    settings = _settings(storage)
    refs = register_all(storage, boosters)
    frame = rows(1_000, seed=8)
    fs = FeatureStore(storage, settings=settings)
    version = fs.write("daily", frame, entity="entity_id", event_time="event_time",
                       target="target")  # fmt: skip
    return {"settings": settings, "refs": refs, "frame": frame, "version": version}


def test_a_feature_set_is_scored_with_lineage_and_metrics(
    storage: Storage, scored: dict[str, Any]
) -> None:
    settings, version = scored["settings"], scored["version"]
    seen: list[Any] = []
    m = run_batch(storage, "reg-a", features="daily", id_columns=["entity_id"],
                  settings=settings, progress=seen.append)  # fmt: skip
    assert m.definition.model == "reg-a@1.0.0"  # pinned
    assert m.definition.input.lineage() == {
        "source": "feature_set", "feature_set": "daily", "version": version.version,
        "sha256": version.sha256, "rows": 1_000,
    }  # fmt: skip
    assert m.rows == 1_000 and len(m.parts) >= 3 and m.resumed_parts == 0
    assert m.columns == ["entity_id", "prediction", "actual"]
    assert m.output == storage.uri and storage.exists(manifest_key(m.job_id))
    out = _outputs(storage, m)
    frame = scored["frame"]
    expected = Registry(storage).load("reg-a@1.0.0").predict(frame)
    assert out["entity_id"].tolist() == frame["entity_id"].tolist()  # row order kept
    np.testing.assert_allclose(out["prediction"], expected, rtol=1e-6)
    truth = Task.of("regression").metrics(frame["target"], expected, tolerance=5.0)
    assert m.metrics is not None and m.metrics["rows"] == 1_000
    assert m.metrics["rmse"] == pytest.approx(truth["rmse"])
    assert m.metrics["accuracy"] == pytest.approx(truth["accuracy"])
    assert [p.stage for p in seen][0] == "checking" and seen[-1].stage == "done"
    assert max(p.parts_done for p in seen) == len(m.parts)


def test_a_classifier_over_a_glob_of_files(
    storage: Storage, scored: dict[str, Any], tmp_path: Path
) -> None:
    """Input files on the storage's backend (S3 through its pyarrow filesystem), output
    to another root."""
    frame = rows(600, seed=9)
    for i in range(3):
        part = pa.Table.from_pandas(frame.iloc[i * 200 : (i + 1) * 200], preserve_index=False)
        storage.write_parquet(f"incoming/day={i}/rows.parquet", part, row_group_size=100)
    out_root = tmp_path / "scores"
    m = run_batch(storage, "churn", data=f"{storage.uri}/incoming/day=*/*.parquet",
                  output=str(out_root), label="churned", id_columns=["entity_id"],
                  settings=scored["settings"])  # fmt: skip
    assert m.output == str(out_root) and m.definition.input.kind == "files"
    files = m.definition.input.lineage()["files"]
    assert [f["uri"] for f in files] == [
        f"{storage.uri}/incoming/day={i}/rows.parquet" for i in range(3)
    ]
    assert [f["rows"] for f in files] == [200, 200, 200] and all(f["size"] > 0 for f in files)
    out = _outputs(open_storage(str(out_root)), m)
    assert list(out.columns) == ["entity_id", "label", "p_no", "p_yes", "actual_label"]
    predictor = Registry(storage).load("churn")
    assert out["label"].tolist() == predictor.predict_labels(frame)
    labels = Labels(["no", "yes"])
    truth = Task.of("binary").metrics(labels.encode(frame["churned"]), predictor.predict(frame),
                                      labels=labels, threshold=0.4)  # fmt: skip
    assert m.metrics is not None and m.metrics["logloss"] == pytest.approx(truth["logloss"])
    assert m.metrics["accuracy"] == pytest.approx(truth["accuracy"])
    assert [j["job_id"] for j in list_jobs(open_storage(str(out_root)))] == [m.job_id]
    assert storage.list_keys("batch/") == []  # nothing went to the storage root


LOCAL = pytest.mark.parametrize("storage", ["local"], indirect=True)


@LOCAL
def test_a_rerun_scores_only_the_missing_parts(storage: Storage, scored: dict[str, Any]) -> None:
    settings = scored["settings"]
    first = run_batch(storage, "reg-a", features="daily", settings=settings)
    again = run_batch(storage, "reg-a", features="daily", settings=settings)
    assert again == first  # complete: nothing runs, the same manifest comes back
    # A run that died before its manifest and its last part: the rerun does only that part.
    lost = first.parts[-1].name
    storage.delete(manifest_key(first.job_id))
    storage.delete(f"batch/{first.job_id}/{lost}")
    storage.delete(f"batch/{first.job_id}/_parts/{lost.removesuffix('.parquet')}.json")
    resumed = run_batch(storage, "reg-a", features="daily", settings=settings)
    assert resumed.job_id == first.job_id and resumed.resumed_parts == len(first.parts) - 1
    before = {p.name: p.scored_at for p in first.parts}
    after = {p.name: p.scored_at for p in resumed.parts}
    assert [n for n in after if after[n] != before[n]] == [lost]
    assert _outputs(storage, resumed).equals(_outputs(storage, first))
    assert resumed.metrics == first.metrics


@LOCAL
def test_bad_input_is_refused_before_anything_is_written(
    storage: Storage, scored: dict[str, Any], tmp_path: Path
) -> None:
    settings = scored["settings"]
    with pytest.raises(NotFoundError, match="No model named 'ghost'"):
        run_batch(storage, "ghost@1.0.0", features="daily", settings=settings)
    with pytest.raises(NotFoundError, match="has no version 9"):
        run_batch(storage, "reg-a@9.0.0", features="daily", settings=settings)
    narrow = tmp_path / "narrow"
    narrow.mkdir()
    pq.write_table(pa.Table.from_pandas(scored["frame"].drop(columns=["num_3"]),
                                        preserve_index=False), narrow / "a.parquet")  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"has no column 'num_3' \(a feature of reg-a"):
        run_batch(storage, "reg-a", data=str(narrow), settings=settings)
    with pytest.raises(InvalidInputError, match=r"'user' \(an id column\)"):
        run_batch(storage, "reg-a", features="daily", id_columns=["user"], settings=settings)
    (narrow / "b.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(InvalidInputError, match=r"Cannot read .*b\.parquet as Parquet"):
        run_batch(storage, "reg-a", data=str(narrow), settings=settings)
    assert storage.list_keys("batch/") == []
    first = run_batch(storage, "reg-a", features="daily", job_id="nightly", settings=settings)
    keys = storage.list_keys("batch/")
    with pytest.raises(InvalidInputError, match="already holds another batch job"):
        run_batch(storage, "reg-b", features="daily", job_id="nightly", settings=settings)
    with pytest.raises(InvalidInputError, match="already holds another batch job"):
        run_batch(storage, "reg-a", features="daily", job_id="nightly", explain=True,
                  settings=settings)  # fmt: skip
    assert storage.list_keys("batch/") == keys and get_job(storage, "nightly")["state"] == (
        "complete"
    )
    assert first.job_id == "nightly"


@LOCAL
def test_an_adaptive_ensemble_uses_the_stats_of_when_the_job_began(
    storage: Storage, scored: dict[str, Any]
) -> None:
    from rayops.batch.scorer import combiners_for
    from rayops.registry.predictor import evaluate
    from rayops.serving.ensembles import stats_key

    settings, frame, ref = scored["settings"], scored["frame"], scored["refs"]["dynamic"]
    a, b = scored["refs"]["booster"], "reg-b@1.0.0"
    now = datetime(2026, 4, 1, tzinfo=UTC).isoformat()

    def member(mse: float) -> dict[str, Any]:
        return {"rows": 50, "weight": 50.0, "mse": mse, "mae": mse, "bias": 0.0, "accuracy": 0.5}

    doc = {"ensemble": ref, "kind": "dynamic", "updated_at": now, "window_start": now,
           "window_end": now, "half_life_s": 60.0, "min_rows": 10, "tolerance": 5.0,
           "members": [a, b], "context": ["cat_0"], "rows": 100,
           "overall": {a: member(1.0), b: member(9.0)},
           "segments": [{"values": ["c1"], "rows": 50,
                         "members": {a: member(9.0), b: member(1.0)}}]}  # fmt: skip
    storage.write_json(stats_key(ref), doc)
    m = run_batch(storage, ref, features="daily", id_columns=["cat_0"], settings=settings)
    assert list(m.definition.ensemble_stats) == [ref]
    predictor = Registry(storage).load(ref)
    expected = evaluate(predictor, frame, combiners_for(predictor, m.definition.ensemble_stats))
    out = _outputs(storage, m)
    np.testing.assert_allclose(out["prediction"], expected, rtol=1e-6)
    reg_b = Registry(storage).load(b).predict(frame)
    picked_b = (frame["cat_0"] == "c1").to_numpy()
    np.testing.assert_allclose(out["prediction"][picked_b], reg_b[picked_b], rtol=1e-6)


@LOCAL
def test_a_pool_that_cannot_start_fails_with_a_sentence_and_writes_no_part(
    storage: Storage, scored: dict[str, Any]
) -> None:
    # Three 1-CPU actors on a 2-CPU cluster: the pool is never whole. Scoring waits for
    # the whole pool (so parts spread over every actor); after the timeout it says why.
    settings = scored["settings"].override(batch_actors=3, batch_actors_ready_timeout_s=3)
    with pytest.raises(RayopsError, match=r"3 scoring actor\(s\) of 1 CPU each were not all "
                       r"ready within batch_actors_ready_timeout_s=3 s"):  # fmt: skip
        run_batch(storage, "reg-a", features="daily", job_id="crowded", settings=settings)
    assert storage.list_keys("batch/crowded/_parts/") == []
    assert get_job(storage, "crowded")["state"] != "complete"
