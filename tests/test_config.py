"""Settings by section: environment names kept, precedence, overrides, jobs get them whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rayops.config import (
    JOB_SETTINGS_ENV,
    OnlineSettings,
    ServingSettings,
    Settings,
    UpdateMode,
    load_settings,
)
from rayops.errors import InvalidInputError


def test_every_setting_keeps_its_environment_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOPS_SERVING_POLL_INTERVAL_S", "0.25")
    monkeypatch.setenv("RAYOPS_CV_FOLDS", "7")  # training section, old name
    monkeypatch.setenv("RAYOPS_STORAGE_MAX_ATTEMPTS", "4")  # s3 section, old name
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # alias
    monkeypatch.setenv("RAYOPS_ONLINE_MODE", "both")
    s = Settings()
    assert s.serving.poll_interval_s == 0.25
    assert s.training.cv_folds == 7
    assert s.s3.max_attempts == 4
    assert s.s3.endpoint_url == "http://127.0.0.1:9"
    assert s.online.mode is UpdateMode.BOTH
    names = {row[0] for row in s.describe()}
    assert {"serving_poll_interval_s", "cv_folds", "storage_max_attempts"} <= names
    assert len(names) == len(s.describe()) == len(Settings.setting_names())


def test_keywords_beat_the_environment_and_sections_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOPS_SERVING_MAX_ROWS", "7")
    monkeypatch.setenv("RAYOPS_SERVING_POLL_INTERVAL_S", "2")
    s = Settings(serving_poll_interval_s=0.1)
    assert (s.serving.poll_interval_s, s.serving.max_rows) == (0.1, 7)
    s = Settings(serving={"max_rows": 9})
    assert (s.serving.poll_interval_s, s.serving.max_rows) == (2.0, 9)
    s = Settings(serving=ServingSettings(max_rows=3))  # a whole section replaces
    assert (s.serving.poll_interval_s, s.serving.max_rows) == (0.5, 3)


def test_bad_settings_are_refused_with_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="Unknown setting 'serving_colour'"):
        Settings(serving_colour=1)
    with pytest.raises(ValidationError, match="poll_interval_s"):
        Settings(serving_poll_interval_s=-1)
    monkeypatch.setenv("RAYOPS_ROLLOUT_STEPS", "5,25")
    with pytest.raises(InvalidInputError, match="RAYOPS_ROLLOUT_STEPS must be JSON"):
        Settings()


def test_a_job_receives_the_whole_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    controller = Settings(storage="/data/x", rollout_min_samples=3, online_rounds=4)
    env = controller.job_env()
    # The job's own environment says otherwise: the controller's settings win.
    monkeypatch.setenv("RAYOPS_ROLLOUT_MIN_SAMPLES", "99")
    job = load_settings({**env})
    assert job == controller
    assert job.rollout.min_samples == 3 and job.online.rounds == 4
    assert load_settings(env, storage="/data/y").storage == "/data/y"
    assert JOB_SETTINGS_ENV in env


def test_no_secret_ever_travels_to_a_job() -> None:
    s = Settings(api_token="hunter2", monitoring_smtp_password="pw-1",
                 monitoring_webhook_secret="hook-key")  # fmt: skip
    sent = s.job_env()[JOB_SETTINGS_ENV]
    assert "hunter2" not in sent and "pw-1" not in sent and "hook-key" not in sent
    assert load_settings(s.job_env()).monitoring.smtp_password is None
    assert s.override(control_tick_s=1).api_token is not None


def test_unknown_environment_names_are_reported() -> None:
    env = {"RAYOPS_SERVNG_MAX_ROWS": "1", "RAYOPS_CV_FOLDS": "3", "RAYOPS_SETTINGS_JSON": "{}"}
    assert Settings.unknown_env(env) == ["RAYOPS_SERVNG_MAX_ROWS"]


def test_a_section_alone_holds_the_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYOPS_ONLINE_ROUNDS", "42")
    assert OnlineSettings().rounds == 10  # sections never read the environment
    assert Settings().online.rounds == 42


def test_components_without_settings_use_the_ones_their_storage_was_opened_with(
    tmp_path: Path,
) -> None:
    from rayops.serving import Endpoints
    from rayops.storage import open_storage
    from rayops.telemetry.compaction import Compactor

    storage = open_storage(str(tmp_path), Settings(cas_max_retries=7, telemetry_target_file_mb=3))
    assert Endpoints(storage, registry=False).settings.cas_max_retries == 7
    assert Compactor(storage).settings.target_file_mb == 3
