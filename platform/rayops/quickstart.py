"""The quickstart: the rayops loop on embedded defaults (local storage, no services).

It grows with the platform; today it exercises the foundation only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from rayops.datasets import ConceptDrift, CovariateDrift, make_regression
from rayops.errors import AlreadyExistsError, ConflictError
from rayops.storage import open_storage

__all__ = ["run_quickstart"]


def run_quickstart(
    storage: str | None = None, rows: int = 20_000, echo: Callable[[str], Any] | None = print
) -> dict[str, Any]:
    """Run every step that exists so far and return a summary dict.

    Example:
        >>> import tempfile
        >>> run_quickstart(tempfile.mkdtemp(), rows=500, echo=None)["rows"]
        500
    """
    say = echo or (lambda _msg: None)
    started = time.perf_counter()
    store = open_storage(storage)
    store.check()
    say(f"1. storage root {store.uri} is reachable and writable")

    half = rows // 2
    frame = make_regression(
        rows,
        seed=7,
        covariate_drift=CovariateDrift(at_row=half, features=("num_0", "cat_0")),
        concept_drift=ConceptDrift(at_row=half),
    )
    say(f"2. generated {rows} rows with covariate and concept drift from row {half}")

    import pyarrow as pa

    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    key = f"quickstart/{run_id}/data.parquet"
    store.write_parquet(key, pa.Table.from_pandas(frame, preserve_index=False))
    back = store.read_parquet(key, columns=["num_0", "target"])
    assert back.num_rows == rows
    say(f"3. wrote and read back {key} ({back.num_rows} rows, projected to 2 columns)")

    claimed = 0
    for n in range(1, 1000):
        try:
            store.put_json_if_absent(f"quickstart/versions/{n}.json", {"run": run_id})
            claimed = n
            break
        except AlreadyExistsError:
            continue
    say(f"4. claimed version {claimed} with put-if-absent")

    pointer = store.update_json(
        "quickstart/latest.json", lambda _doc: {"version": claimed, "run": run_id}
    )
    try:
        store.compare_and_swap("quickstart/latest.json", b"{}", expected="stale-token")
        stale_rejected = False
    except ConflictError:
        stale_rejected = True
    say(f"5. moved 'latest' to version {pointer['version']}; stale swap rejected: {stale_rejected}")

    return {
        "storage": store.uri,
        "run_id": run_id,
        "rows": rows,
        "version": claimed,
        "stale_swap_rejected": stale_rejected,
        "seconds": round(time.perf_counter() - started, 3),
    }
