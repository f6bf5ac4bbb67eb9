"""cluster.yaml is a launcher config with what rayops needs on every node."""

from __future__ import annotations

from pathlib import Path

import yaml


def test_cluster_yaml_has_what_rayops_needs(repo_root: Path) -> None:
    cfg = yaml.safe_load((repo_root / "cluster.yaml").read_text())
    assert cfg["provider"]["type"] == "aws"
    head = cfg["head_node_type"]
    assert head in cfg["available_node_types"]
    workers = [n for n in cfg["available_node_types"] if n != head]
    assert workers and all(cfg["available_node_types"][w]["max_workers"] >= 1 for w in workers), (
        "workers must be able to autoscale"
    )
    setup = "\n".join(cfg["setup_commands"])
    assert "pip install" in setup and "/rayops" in setup
    assert "RAYOPS_STORAGE=s3://" in setup
    head_start = " ".join(cfg["head_start_ray_commands"])
    assert "--head" in head_start
    assert "--dashboard-host=127.0.0.1" in head_start, "the dashboard must not listen publicly"
    assert any("--address=$RAY_HEAD_IP" in c for c in cfg["worker_start_ray_commands"])
