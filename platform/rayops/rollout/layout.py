"""Where rollouts keep their documents under the storage root (beside the endpoint's
routing table): the only code that knows these keys.

::

    endpoints/<endpoint>/rollout.json                    the current rollout (CAS)
    endpoints/<endpoint>/rollout/events/                 every transition, in order
    endpoints/<endpoint>/rollout/analyses/<rollout_id>/  every analysis of a rollout

Example:
    >>> rollout_key("churn")
    'endpoints/churn/rollout.json'
"""

from __future__ import annotations

from rayops.names import validate_name

__all__ = ["analyses_prefix", "events_prefix", "rollout_key"]


def _endpoint(endpoint: str) -> str:
    return f"endpoints/{validate_name(endpoint, 'endpoint name')}/"


def rollout_key(endpoint: str) -> str:
    return f"{_endpoint(endpoint)}rollout.json"


def events_prefix(endpoint: str) -> str:
    return f"{_endpoint(endpoint)}rollout/events/"


def analyses_prefix(endpoint: str, rollout_id: str) -> str:
    return f"{_endpoint(endpoint)}rollout/analyses/{validate_name(rollout_id, 'rollout id')}/"
