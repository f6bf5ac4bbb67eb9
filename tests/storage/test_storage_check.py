"""`Storage.check()` proves write/read/delete, put-if-absent and compare-and-swap; an S3
server that ignores If-None-Match / If-Match is refused, by the check and before the
first conditional write."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import BUCKET
from httpproxy import HttpProxy
from s3server import S3Server
from typer.testing import CliRunner

from rayops.cli import app
from rayops.config import Settings
from rayops.errors import ConditionalWritesUnsupportedError, ConflictError, StorageError
from rayops.storage import Storage, open_storage
from rayops.storage.check import PROBE_PREFIX, ProbeName, ProbeStatus
from rayops.storage.s3 import _VERIFIED

PROBES = ["write", "read", "put_if_absent", "compare_and_swap", "delete"]


def test_check_passes_every_probe_and_leaves_nothing_behind(storage: Storage) -> None:
    report = storage.check()
    assert report.ok and report.failure is None and report.cleaned_up
    assert [p.name.value for p in report.probes] == PROBES
    assert all(p.status is ProbeStatus.PASSED and p.duration_ms >= 0 for p in report.probes)
    assert report.probe_prefix.startswith(f"{PROBE_PREFIX}/")
    assert storage.list_keys(f"{PROBE_PREFIX}/") == []
    dumped = report.model_dump(mode="json")
    assert dumped["probes"][2] == {
        "name": "put_if_absent",
        "status": "passed",
        "ok": True,
        "proves": "put-if-absent refuses a second writer of the same key",
        "duration_ms": dumped["probes"][2]["duration_ms"],
        "error": None,
        "message": None,
    }


def test_check_reports_an_unusable_root_and_skips_the_rest(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")  # the root is a file, not a folder
    report = open_storage(str(tmp_path / "file")).check(raise_on_failure=False)
    assert not report.ok
    assert [p.status for p in report.probes] == [ProbeStatus.FAILED] + [ProbeStatus.SKIPPED] * 4
    assert report.probes[0].error == "StorageError"
    assert "RAYOPS_STORAGE" in (report.probes[0].message or "")
    with pytest.raises(StorageError, match="a file is in the way"):
        report.raise_for_failure()
    assert (tmp_path / "file").read_text() == "x"


@pytest.fixture
def ignoring_server(s3_server: S3Server, request: pytest.FixtureRequest) -> Iterator[HttpProxy]:
    """moto behind a proxy that drops the conditional headers named by the test's param."""
    proxy = HttpProxy(s3_server.endpoint, drop_headers=request.param)
    yield proxy
    proxy.close()
    # This process's memory of verified servers must not outlive the port.
    _VERIFIED.discard((proxy.endpoint, BUCKET))


def _through(proxy: HttpProxy, uri: str) -> Storage:
    return open_storage(uri, Settings(s3_endpoint_url=proxy.endpoint, s3_region="us-east-1"))


DROPS = {
    "both": (["If-None-Match", "If-Match"], {"put_if_absent", "compare_and_swap"}),
    "if-none-match": (["If-None-Match"], {"put_if_absent"}),
    "if-match": (["If-Match"], {"compare_and_swap"}),
}


@pytest.mark.parametrize(
    "ignoring_server,failing",
    [pytest.param(*DROPS[k], id=k) for k in DROPS],
    indirect=["ignoring_server"],
)
def test_check_fails_loudly_on_a_server_that_ignores_conditional_headers(
    ignoring_server: HttpProxy, failing: set[str], s3_uri: str, s3_settings: Settings
) -> None:
    storage = _through(ignoring_server, s3_uri)
    report = storage.check(raise_on_failure=False)
    assert ignoring_server.dropped, "the proxy removed no header: the test proves nothing"
    assert not report.ok
    failed = {p.name.value for p in report.probes if p.status is ProbeStatus.FAILED}
    assert failed == failing
    # Broken semantics do not hide the other probes: they all ran.
    assert not any(p.status is ProbeStatus.SKIPPED for p in report.probes)
    for probe in report.probes:
        if probe.name.value in failing:
            assert probe.error == "ConditionalWritesUnsupportedError"
            assert "AWS S3" in (probe.message or "") and "412" in (probe.message or "")
    with pytest.raises(ConditionalWritesUnsupportedError, match="conditional"):
        report.raise_for_failure()
    with pytest.raises(ConditionalWritesUnsupportedError):
        storage.check()
    honest = open_storage(s3_uri, s3_settings)
    assert honest.list_keys(f"{PROBE_PREFIX}/") == [] and report.cleaned_up


@pytest.mark.parametrize("ignoring_server", [["If-None-Match", "If-Match"]], indirect=True)
def test_conditional_writes_raise_instead_of_overwriting(
    ignoring_server: HttpProxy, s3_uri: str, s3_settings: Settings
) -> None:
    honest = open_storage(s3_uri, s3_settings)
    honest.put_if_absent("models/m/claims/1.0.0.json", b"first writer")
    token = honest.compare_and_swap("models/m/aliases/prod.json", b"v1", None)
    honest.compare_and_swap("models/m/aliases/prod.json", b"v2", token)

    storage = _through(ignoring_server, s3_uri)
    with pytest.raises(ConditionalWritesUnsupportedError, match="If-None-Match") as info:
        storage.put_if_absent("models/m/claims/1.0.0.json", b"second writer")
    assert "rayops storage check" in str(info.value) and s3_uri in str(info.value)
    with pytest.raises(ConditionalWritesUnsupportedError):
        storage.compare_and_swap("models/m/aliases/prod.json", b"stale", token)
    with pytest.raises(ConditionalWritesUnsupportedError):
        storage.update_json("counters/n.json", lambda doc: {"n": 1})
    assert honest.read_bytes("models/m/claims/1.0.0.json") == b"first writer"
    assert honest.read_bytes("models/m/aliases/prod.json") == b"v2"
    assert not honest.exists("counters/n.json")
    assert honest.list_keys(f"{PROBE_PREFIX}/") == []
    # Unconditional writes and reads still work there.
    storage.write_bytes("plain.bin", b"x")
    assert storage.read_bytes("plain.bin") == b"x"


@pytest.mark.parametrize("ignoring_server", [[]], indirect=True)
def test_an_honest_server_is_probed_once_per_process_before_the_first_conditional_write(
    ignoring_server: HttpProxy, s3_uri: str
) -> None:
    counting = ignoring_server  # drops nothing: only counts
    first = _through(counting, s3_uri)
    first.put_if_absent("a.json", b"1")
    probes = counting.count("PUT", f"/{PROBE_PREFIX}/")
    assert probes == 4  # create, second create, wrong ETag, If-Match on a deleted key
    counting.reset()
    # Another storage object on the same endpoint and bucket, later writes: no probe.
    second = _through(counting, s3_uri + "/other")
    second.put_if_absent("b.json", b"1")
    token = second.compare_and_swap("c.json", b"1", None)
    with pytest.raises(ConflictError):
        second.compare_and_swap("c.json", b"2", "stale-token")
    second.compare_and_swap("c.json", b"2", token)
    assert counting.count("PUT", f"/{PROBE_PREFIX}/") == 0
    assert counting.count("PUT") == 4


@pytest.mark.parametrize("ignoring_server", [["If-None-Match", "If-Match"]], indirect=True)
def test_cli_storage_check_exits_5_and_names_the_failing_probes(
    ignoring_server: HttpProxy,
) -> None:
    uri = f"s3://{BUCKET}/cli-{uuid.uuid4().hex[:8]}"
    res = CliRunner().invoke(
        app,
        ["storage", "check", "--json", "--storage", uri],
        env={"AWS_ENDPOINT_URL": ignoring_server.endpoint, "AWS_REGION": "us-east-1"},
    )
    assert res.exit_code == 5, res.output
    data = json.loads(res.stdout)
    assert data["ok"] is False and data["error"] == "ConditionalWritesUnsupportedError"
    assert "If-None-Match" in data["message"]
    status = {p["name"]: p["status"] for p in data["probes"]}
    assert status == {
        "write": "passed",
        "read": "passed",
        "put_if_absent": "failed",
        "compare_and_swap": "failed",
        "delete": "passed",
    }


def test_cli_storage_check_lists_the_probes(s3_server: S3Server) -> None:
    uri = f"s3://{BUCKET}/cli-{uuid.uuid4().hex[:8]}"
    res = CliRunner().invoke(
        app,
        ["storage", "check", "--storage", uri],
        env={"AWS_ENDPOINT_URL": s3_server.endpoint, "AWS_REGION": "us-east-1"},
    )
    assert res.exit_code == 0, res.output
    for name in PROBES:
        assert name in res.output
    assert f"ok {uri}" in res.output
    assert ProbeName.COMPARE_AND_SWAP.value in res.output
