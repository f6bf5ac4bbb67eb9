"""Any Ray worker sees the same storage root as the driver (the platform's premise)."""

from __future__ import annotations

import pyarrow as pa

from rayops.storage import Storage


def test_ray_tasks_read_and_claim_on_the_same_root(ray_cluster, storage: Storage) -> None:  # type: ignore[no-untyped-def]
    ray = ray_cluster
    storage.write_parquet("shared/data.parquet", pa.table({"x": list(range(100))}))

    @ray.remote(num_cpus=0.5)
    def work(s: Storage, i: int) -> tuple[int, bool]:
        from rayops.errors import AlreadyExistsError

        total = sum(s.read_parquet("shared/data.parquet").column("x").to_pylist())
        try:
            s.put_if_absent("shared/claim.json", str(i).encode())
            return total, True
        except AlreadyExistsError:
            return total, False

    results = ray.get([work.remote(storage, i) for i in range(6)])
    assert [t for t, _ in results] == [4950] * 6
    assert sum(won for _, won in results) == 1
