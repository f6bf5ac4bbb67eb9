"""What bounding request JSON costs: the gateway's body parser against plain parsers.

Run:  python bench/json_body.py [--repeats 50]

Bodies: a 10k-row x 20-feature JSON predict body (``instances``), the same rows as
one flat OIP ``[10000, 20]`` FP64 tensor, and a single-row predict body. For
each: the median time of ``json.loads`` (the parser before issue 18),
``orjson.loads``, the pre-parse scan alone and :func:`rayops.serving.jsonbody.loads`
(scan + orjson), with the default limits of :class:`rayops.config.Settings`.
Then the time and peak memory (tracemalloc) of refusing hostile 16 MiB bodies.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson

from rayops.config import Settings
from rayops.errors import InvalidInputError
from rayops.serving.jsonbody import JsonLimits, _scan, loads


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    limits = JsonLimits.from_settings(Settings())
    rng = random.Random(0)
    features = [f"x{j}" for j in range(20)]
    rows = [{f: rng.random() for f in features} for _ in range(10_000)]
    flat = [v for row in rows for v in row.values()]
    bodies = {
        "10k x 20 instances": json.dumps({"instances": rows}).encode(),
        "10k x 20 OIP tensor": json.dumps(
            {"inputs": [{"name": "input", "shape": [10_000, 20], "datatype": "FP64", "data": flat}]}
        ).encode(),
        "1 row instances": json.dumps({"instances": rows[:1]}).encode(),
    }
    print(f"limits: {limits}")
    print(f"{'body':20} {'bytes':>9} {'json':>10} {'orjson':>10} {'scan':>10} {'bounded':>10}")
    for name, raw in bodies.items():
        small = len(raw) < 10_000
        scale, unit = (1000.0, "us") if small else (1.0, "ms")
        repeats = args.repeats * 100 if small else args.repeats
        times = [
            _median_ms(fn, repeats) * scale
            for fn in (
                lambda raw=raw: json.loads(raw),
                lambda raw=raw: orjson.loads(raw),
                lambda raw=raw: _scan(raw, limits),
                lambda raw=raw: loads(raw, limits),
            )
        ]
        cells = " ".join(f"{t:>8.3f}{unit}" for t in times)
        print(
            f"{name:20} {len(raw):>9} {cells}  bounded = {times[3] / times[1]:.2f}x orjson, "
            f"{times[3] / times[0]:.2f}x json"
        )
    size = 16 * 1024 * 1024 - 16
    hostile = {
        "nested [": b"[" * size,
        "[[],[],...]": b"[" + b"[]," * (size // 3 - 1) + b"[]]",
        "quotes": b'"' * size,
        "commas": b"[" + b"0," * (size // 2 - 1) + b"0]",
        "one string": b'"' + b"a" * (size - 2) + b'"',
        "backslashes": b'["' + b"\\\\" * (size // 2 - 3) + b'"]',
    }
    print(f"\nhostile bodies of {size} bytes (refused by the scan, or accepted):")
    for name, raw in hostile.items():
        tracemalloc.start()
        started = time.perf_counter()
        try:
            loads(raw, limits)
            outcome = "accepted"
        except InvalidInputError as e:
            outcome = str(e)[:70]
        took = (time.perf_counter() - started) * 1000
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"  {name:14} {took:7.1f} ms  peak {peak:6.1f} MiB  {outcome}")


if __name__ == "__main__":
    main()
