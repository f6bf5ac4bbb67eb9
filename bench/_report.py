"""One line per comparison that bench/run_all.py collects into its table of ratios.

Each benchmark prints its own readable output and, for every comparison with a
peer, one ``RESULT {json}`` line via :func:`result`.
"""

from __future__ import annotations

import json

__all__ = ["result"]


def result(
    benchmark: str,
    comparison: str,
    ratio: float,
    aim: str,
    met: bool,
    *,
    peer: str,
    unit: str = "x",
) -> None:
    """Print ``RESULT {...}``: ``ratio`` (rayops vs ``peer``), the ``aim`` and whether it is met."""
    print(
        "RESULT "
        + json.dumps(
            {
                "benchmark": benchmark,
                "comparison": comparison,
                "ratio": round(float(ratio), 4),
                "unit": unit,
                "aim": aim,
                "met": bool(met),
                "peer": peer,
            }  # fmt: skip
        ),
        flush=True,
    )
