"""The ``rayops`` command: a thin shell over the SDK.

Heavy libraries (Ray, XGBoost, pyarrow) are imported inside the commands that
need them, so ``rayops --help`` answers instantly.
"""

from __future__ import annotations

from rayops.cli._app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
