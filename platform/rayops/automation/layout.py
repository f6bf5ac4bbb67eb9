"""Where automated retraining keeps its documents under the storage root: the only
code that knows these keys.

::

    automation/policies/<model>.json          a model's retraining policy
    automation/schedules/<model>.json         when each of its schedules last fired
    automation/requests/<model>/...           retrain requests (alerts, the CLI)
    automation/jobs/<model>/<job_id>.json     every retrain job and its stages
    automation/active/<model>.json            the one job a model may run at a time

Example:
    >>> job_key("churn", "20260101-abc123")
    'automation/jobs/churn/20260101-abc123.json'
    >>> schedule_key("../x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rayops.errors.InvalidNameError: '../x' is not a valid model name: ...
"""

from __future__ import annotations

from rayops.names import validate_name

__all__ = [
    "POLICIES",
    "REQUESTS",
    "active_key",
    "job_key",
    "jobs_prefix",
    "policy_key",
    "requests_prefix",
    "schedule_key",
]

#: Retraining policies, one document per model.
POLICIES = "automation/policies/"
#: Retrain requests, a folder per model.
REQUESTS = "automation/requests/"
_JOBS = "automation/jobs/"


def _model(model: str) -> str:
    return validate_name(model, "model name")


def policy_key(model: str) -> str:
    return f"{POLICIES}{_model(model)}.json"


def schedule_key(model: str) -> str:
    return f"automation/schedules/{_model(model)}.json"


def requests_prefix(model: str) -> str:
    return f"{REQUESTS}{_model(model)}/"


def job_key(model: str, job_id: str) -> str:
    return f"{_JOBS}{_model(model)}/{validate_name(job_id, 'job id')}.json"


def jobs_prefix(model: str | None = None) -> str:
    """Every model's jobs, or ``model``'s."""
    return f"{_JOBS}{_model(model)}/" if model else _JOBS


def active_key(model: str) -> str:
    return f"automation/active/{_model(model)}.json"
