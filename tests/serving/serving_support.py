"""Helpers shared by the serving tests (tiny training data, deploying the gateway)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import requests
import xgboost as xgb
from gateway import (
    SHUTDOWN_LOOP_S,
    ready,  # noqa: F401  (re-exported for the serving tests)
)

from rayops.storage import Storage

FEATURES = ["x0", "x1", "x2"]


def make_frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES)))
    df = pd.DataFrame(x, columns=FEATURES)
    df["y"] = 3 * df["x0"] - 2 * df["x1"] + 0.5 * df["x2"] + rng.normal(scale=0.1, size=rows)
    return df


def train(df: pd.DataFrame, features: list[str], *, depth: int = 3, seed: int = 0) -> xgb.Booster:
    dm = xgb.DMatrix(df[features], label=df["y"], enable_categorical=True)
    params = {"max_depth": depth, "eta": 0.3, "seed": seed, "nthread": 1}
    return xgb.train(params, dm, num_boost_round=10)


def cat_frame(rows: int = 300, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    x0 = rng.normal(size=rows)
    y = x0 + np.select([colour == "red", colour == "green"], [5.0, -5.0], 0.0)
    return pd.DataFrame({"x0": x0, "colour": pd.Categorical(colour), "y": y})


def deploy(root: Storage, **settings: Any) -> None:
    """Deploy (or redeploy) the gateway app on ``root`` and wait until it answers."""
    from ray import serve

    from rayops.apps.gateway import APP_NAME, build_app

    overrides = {
        "serving_log_flush_s": 0.5,
        "serving_max_body_bytes": 1_000_000,
        **settings,
    }
    app = build_app({"storage": root.uri, "num_cpus": 0, "settings": overrides,
                     "graceful_shutdown_wait_loop_s": SHUTDOWN_LOOP_S})  # fmt: skip
    serve.run(app, name=APP_NAME, route_prefix="/")


def post_predict(url: str, endpoint: str, body: dict[str, Any]) -> requests.Response:
    """POST a JSON predict body to ``endpoint`` of the gateway at ``url``."""
    return requests.post(f"{url}/endpoints/{endpoint}/predict", json=body, timeout=60)


def instances(frame: pd.DataFrame, features: list[str]) -> list[dict[str, float]]:
    """The ``features`` columns of ``frame`` as JSON ``instances`` (plain floats)."""
    return [{f: float(v) for f, v in row.items()} for row in frame[features].to_dict("records")]
