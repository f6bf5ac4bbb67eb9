"""`rayops deploy|status|history|promote|rollback` and `rayops controller` with --json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rayops.cli import app
from rayops.storage import open_storage

runner = CliRunner()


def run(root: str, *args: str) -> tuple[int, Any]:
    res = runner.invoke(app, [*args, "--json", "--storage", root])
    out = res.stdout.strip()
    return res.exit_code, json.loads(out) if out else None


def test_rollout_commands_end_to_end(tmp_path: Path) -> None:
    from rollout_support import booster

    from rayops.registry import Registry
    from rayops.serving import Endpoints

    root = str(tmp_path / "root")
    storage = open_storage(root)
    reg = Registry(storage)
    a, b = (str(reg.register("demand", booster(i)).ref) for i in range(2))
    Endpoints(storage).create("shop", a)

    code, doc = run(root, "deploy", "shop", b, "--steps", "10,50,100", "--interval", "30s",
                    "--threshold", "min_samples=5")  # fmt: skip
    assert code == 0 and doc["status"] == "running" and doc["thresholds"]["min_samples"] == 5
    code, status = run(root, "status", "shop")
    assert code == 0 and status["weights"] == {a: 90, b: 10}
    code, _ = run(root, "deploy", "shop", b)
    assert code == 4  # a rollout is already running: conflict
    code, promoted = run(root, "promote", "shop", "--reason", "cli test")
    assert code == 0 and promoted["status"] == "promoted"
    code, rolled = run(root, "rollback", "shop", "--reason", "cli test")
    assert code == 0 and rolled["status"] == "rolled_back"
    code, events = run(root, "history", "shop")
    assert code == 0 and [e["kind"] for e in events] == ["deployed", "promoted", "rolled_back"]
    from rayops.cli._output import current_user

    assert events[-1]["actor"] == current_user()
    assert events[1]["reason"] == "cli test"

    code, ran = run(root, "controller", "run", "--once", "--task", "rollout")
    assert code == 0 and ran["leader"] is True and ran["tasks"]["rollout"]["ok"] is True
    code, shown = run(root, "controller", "status")
    assert code == 0 and shown["status"]["tasks"]["rollout"]["summary"] == {"analyzed": []}


def test_rollout_command_errors_have_exit_codes(tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    assert run(root, "deploy", "nowhere", "m@1.0.0")[0] == 3
    assert run(root, "deploy", "shop", "m@1.0.0", "--strategy", "bluegreen")[0] in (2, 3)
    assert run(root, "deploy", "shop", "m@1.0.0", "--threshold", "speed=3")[0] == 2
    assert run(root, "status", "nowhere")[0] == 3
    assert run(root, "controller", "run", "--once", "--task", "nope")[0] == 2
    res = runner.invoke(app, ["deploy", "--help"])
    assert res.exit_code == 0 and "Example: rayops deploy" in res.stdout


def test_deploy_creates_a_new_endpoint_from_the_cli_and_the_sdk(tmp_path: Path) -> None:
    """Like `kubectl apply`: deploying on an endpoint that does not exist creates it."""
    from rollout_support import booster

    import rayops
    from rayops.registry import Registry
    from rayops.serving import Endpoints

    root = str(tmp_path / "root")
    storage = open_storage(root)
    a, b = (str(Registry(storage).register("demand", booster(i)).ref) for i in range(2))
    code, doc = run(root, "deploy", "brand-new", a)
    assert code == 0 and doc["status"] == "promoted" and doc["candidate"] == a
    assert [r.ref for r in Endpoints(storage).get("brand-new").routes] == [a]
    code, status = run(root, "status", "brand-new")
    assert code == 0 and status["weights"] == {a: 100}
    made = rayops.Client(root).deploy("from-sdk", b)
    assert made.status.value == "promoted"
    assert [r.ref for r in Endpoints(storage).get("from-sdk").routes] == [b]


def test_deploy_watch_follows_the_rollout_to_its_end(tmp_path: Path) -> None:
    """An operator promotes the canary while `deploy --watch` follows it."""
    import threading

    from harness import wait_until
    from rollout_support import booster

    from rayops.registry import Registry
    from rayops.rollout import Rollouts
    from rayops.serving import Endpoints

    root = str(tmp_path / "root")
    storage = open_storage(root)
    reg = Registry(storage)
    a, b = (str(reg.register("demand", booster(i)).ref) for i in range(2))
    Endpoints(storage).create("shop", a)

    def operator() -> None:
        rollouts = Rollouts(storage)
        assert wait_until(lambda: "shop" in rollouts.list(), timeout=30)
        rollouts.promote("shop", reason="watched")

    helper = threading.Thread(target=operator)
    helper.start()
    code, final = run(root, "deploy", "shop", b, "--steps", "10,100", "--watch")
    helper.join(timeout=30)
    assert code == 0 and final["rollout"]["status"] == "promoted"
    assert final["weights"][b] == 100
