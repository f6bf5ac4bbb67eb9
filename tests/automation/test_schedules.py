"""Acceptance 5: cron and interval schedules compute their next run over a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from rayops.automation.policy import RetrainPolicy, Schedule, next_run, parse_policy
from rayops.errors import InvalidInputError

T = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # a Tuesday


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        ("0 2 * * 0", T, datetime(2026, 12, 6, 2, 0, tzinfo=UTC)),  # next Sunday 02:00
        ("0 2 * * 0", datetime(2026, 12, 6, 2, tzinfo=UTC), datetime(2026, 12, 13, 2, tzinfo=UTC)),
        ("*/15 * * * *", T, datetime(2026, 12, 1, 9, 45, tzinfo=UTC)),
        ("0 0 1 * *", T, datetime(2027, 1, 1, tzinfo=UTC)),  # across a year
        ("30 9 * * 1-5", T, datetime(2026, 12, 2, 9, 30, tzinfo=UTC)),  # strictly after
        ("0 12 29 2 *", T, datetime(2028, 2, 29, 12, tzinfo=UTC)),  # the next leap day
    ],
)  # fmt: skip
def test_cron_next_run(cron: str, after: datetime, expected: datetime) -> None:
    assert next_run(Schedule(cron=cron), after) == expected


def test_naive_and_offset_times_are_utc() -> None:
    from datetime import timezone

    plus2 = datetime(2026, 12, 1, 3, 0, tzinfo=timezone(timedelta(hours=2)))  # 01:00 UTC
    assert next_run(Schedule(cron="0 2 * * *"), plus2) == datetime(2026, 12, 1, 2, tzinfo=UTC)
    assert next_run(Schedule(cron="0 2 * * *"), datetime(2026, 12, 1, 1)) == datetime(
        2026, 12, 1, 2, tzinfo=UTC
    )


def test_interval_schedules() -> None:
    assert next_run(Schedule(every="24h"), T) == T + timedelta(days=1)
    assert next_run(Schedule(every="90m"), T) == T + timedelta(minutes=90)
    assert Schedule(every="7d").label == "every 7d"


@pytest.mark.parametrize(
    "bad", [{"cron": "every sunday"}, {"cron": "61 * * * *"}, {"cron": "0 2 * *"},
            {"every": "soon"}, {"every": "-1h"}, {}, {"cron": "0 2 * * 0", "every": "1h"}],
)  # fmt: skip
def test_bad_schedules_are_rejected(bad: dict[str, str]) -> None:
    with pytest.raises((ValidationError, InvalidInputError)):
        Schedule(**bad)


def test_policy_validation_names_the_field() -> None:
    with pytest.raises(InvalidInputError, match="triggers.age.days"):
        parse_policy({"model": "m", "features": "fs", "triggers": {"age": {"days": -1}}})
    with pytest.raises(InvalidInputError, match="colour"):
        parse_policy({"model": "m", "features": "fs", "colour": "red"})
    with pytest.raises(InvalidInputError, match="model"):
        parse_policy({"model": "../x", "features": "fs"})
    p = RetrainPolicy(model="m", features="fs")
    assert (p.triggers.age.days, p.triggers.new_samples.count, p.cooldown_s) == (7.0, 100, 3600.0)
