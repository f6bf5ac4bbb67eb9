"""`rayops tune` commands (placeholder: the capability is being built)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the top-level `rayops` app."""
