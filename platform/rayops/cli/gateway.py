"""Commands that ask a running gateway over HTTP: ``rayops explain``, ``rayops predict``.

Thin over :class:`rayops.client.Client` (``predict`` / ``explain``); rows come
from a Parquet file, pandas is imported inside the commands.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from rayops.cli._output import JSON_OPTION, console, emit, handle_errors, table

__all__ = ["register"]

UrlOption = Annotated[
    str,
    typer.Option("--url", help="Base URL of the rayops gateway (rayops serve prints it)."),
]
DataOption = Annotated[
    str, typer.Option("--data", help="Parquet file of rows, one per request row.")
]
TokenOption = Annotated[
    str | None, typer.Option("--token", help="Bearer token (default RAYOPS_API_TOKEN).")
]


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
    app.command("predict")(predict)


def _rows(data: str) -> Any:
    import pandas as pd

    from rayops.errors import InvalidInputError

    try:
        return pd.read_parquet(data)
    except (OSError, ValueError) as e:
        raise InvalidInputError(f"Cannot read {data!r} as Parquet: {e}") from None


def explain(
    endpoint: Annotated[str, typer.Argument(help="Endpoint to ask.")],
    data: DataOption,
    top_k: Annotated[
        int | None, typer.Option("--top-k", min=1, help="Keep only the N largest per row.")
    ] = None,
    approx: Annotated[
        bool, typer.Option("--approx", help="Approximate (Saabas) contributions: faster.")
    ] = False,
    url: UrlOption = "http://127.0.0.1:8000",
    token: TokenOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Predict rows on a served endpoint and show why: each row's feature contributions.

    Contributions are in margin space: the prediction for regression, the log-odds of the
    second class for a binary classifier (p = 1 / (1 + exp(-margin))), each class's logit
    for multiclass (softmax over the classes). Bias plus contributions is the margin
    (exactly for boosters and regression ensembles; the README says where not).
    For a registered version that is not served, use rayops models explain.

    Example: rayops explain churn --data rows.parquet --top-k 5 --json
    """
    from rayops.client import Client

    with handle_errors(as_json):
        with Client(url=url, token=token) as client:
            answer = client.explain(endpoint, _rows(data), top_k=top_k, approx=approx)
        out = {"model": answer.model, "version": answer.version,
               "request_id": answer.request_id, "predictions": answer.predictions,
               "explanations": answer.explanations}  # fmt: skip
    emit(out, as_json, _render_explanations)


def _render_explanations(d: dict[str, Any]) -> None:
    e = d["explanations"]
    exact = "" if e["exact"] else f" ({e['note']})"
    console.print(
        f"[bold]{d['model']}@{d['version']}[/]: contributions in margin space, link "
        f"{e['link']}, {e['method']}{exact}"
    )
    rows = []
    for i, (pred, row) in enumerate(zip(d["predictions"], e["rows"], strict=False)):
        sets = {"": row} if "bias" in row else row
        for cls, one in sets.items():
            shown = ", ".join(f"{f} {v:+.3g}" for f, v in one["contributions"].items())
            rows.append([str(i), str(pred), str(cls), f"{one['bias']:+.3g}", shown])
        if i >= 19:
            break
    console.print(table("explanations (first 20 rows)",
                        ["row", "prediction", "class", "bias", "contributions"], rows))  # fmt: skip


def predict(
    endpoint: Annotated[str, typer.Argument(help="Endpoint to ask.")],
    data: DataOption,
    interval: Annotated[
        float | None,
        typer.Option("--interval", min=0, max=1, help="Regression: conformal interval level."),
    ] = None,
    prediction_set: Annotated[
        float | None,
        typer.Option(
            "--prediction-set", min=0, max=1, help="Classification: conformal prediction-set level."
        ),
    ] = None,  # fmt: skip
    raw: Annotated[
        bool, typer.Option("--raw", help="The model's own probabilities, not calibrated ones.")
    ] = False,
    url: UrlOption = "http://127.0.0.1:8000",
    token: TokenOption = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Predict rows on a served endpoint, with conformal intervals or sets when asked.

    --interval 0.9 gives each row of a regression endpoint a lower and upper bound that
    hold the truth 90% of the time on rows like the calibration rows; --prediction-set 0.9
    gives a classifier's rows the set of classes that holds the true one 90% of the time.
    For files too large for one request, use rayops predict-batch.

    Example: rayops predict demand --data rows.parquet --interval 0.9 --json
    """
    from rayops.client import Client

    with handle_errors(as_json):
        with Client(url=url, token=token) as client:
            answer = client.predict(
                endpoint, _rows(data), interval=interval, prediction_set=prediction_set,
                calibrate=not raw,
            )  # fmt: skip
        frame = answer.frame()
        out = {"model": answer.model, "version": answer.version,
               "request_id": answer.request_id, "calibration": answer.calibration,
               "rows": frame.to_dict(orient="records")}  # fmt: skip
    emit(out, as_json, _render_predictions)


def _render_predictions(d: dict[str, Any]) -> None:
    rows = d["rows"][:20]
    columns = list(rows[0]) if rows else ["prediction"]
    title = f"{d['model']}@{d['version']} (first 20 rows)"
    if d.get("calibration"):
        title += f", {d['calibration']}-calibrated probabilities"
    body = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.values()] for r in rows]
    console.print(table(title, columns, body))
