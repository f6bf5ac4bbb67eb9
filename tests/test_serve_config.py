"""serve_apps/rayops.yaml is a valid Serve config whose applications build."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml


def test_serve_config_validates_and_every_application_builds(repo_root: Path) -> None:
    from ray.serve.schema import ServeDeploySchema

    doc = yaml.safe_load((repo_root / "serve_apps" / "rayops.yaml").read_text())
    config = ServeDeploySchema.model_validate(doc)
    names = [app.name for app in config.applications]
    assert names == ["rayops", "rayops-controller"]
    for app in config.applications:
        module, _, attr = app.import_path.partition(":")
        builder = getattr(importlib.import_module(module), attr)
        built = builder(app.args)
        assert type(built).__name__ == "Application"
    routes = {app.name: app.route_prefix for app in config.applications}
    assert routes == {"rayops": "/", "rayops-controller": None}


def test_serve_config_storage_is_shared_by_every_node(repo_root: Path) -> None:
    """Replicas run on any node: the root must be S3, never a node-local path."""
    doc = yaml.safe_load((repo_root / "serve_apps" / "rayops.yaml").read_text())
    for app in doc["applications"]:
        storage = app["runtime_env"]["env_vars"]["RAYOPS_STORAGE"]
        assert storage.startswith("s3://"), f"{app['name']} stores in {storage!r}"
