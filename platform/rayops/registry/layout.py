"""Where the registry keeps things under the storage root (one place, so it can't drift).

::

    models/<name>/claims/<semver>                    put-if-absent: who owns a version number
    models/<name>/<semver>/model.ubj | ensemble.json  the artifact (written first)
    models/<name>/<semver>/card.json                  the model card (written last: the
                                                      version exists once this exists)
    models/<name>/<semver>/stage.json                 current stage (compare-and-swap)
    models/<name>/<semver>/threshold.json             binary: current decision threshold (CAS)
    models/<name>/events/<time>-<id>.json             lifecycle events (append-only)
    models/<name>/aliases/<alias>.json                alias pointer (compare-and-swap)
    models/<name>/alias-history/<alias>/<rev>.json    every alias move (append-only)
    models/<name>/comparisons/<time>-<id>.json        stored comparisons
    routed/<endpoint>.json                            versions an endpoint routes (archive guard)
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = [
    "alias_history_key",
    "alias_history_prefix",
    "alias_key",
    "aliases_prefix",
    "artifact_key",
    "card_key",
    "claim_key",
    "claims_prefix",
    "comparisons_prefix",
    "events_prefix",
    "model_prefix",
    "routed_key",
    "routed_prefix",
    "stage_key",
    "stamp",
    "threshold_key",
    "version_prefix",
]

ROOT = "models"


def model_prefix(name: str) -> str:
    return f"{ROOT}/{name}"


def version_prefix(name: str, version: str) -> str:
    return f"{ROOT}/{name}/{version}"


def claims_prefix(name: str) -> str:
    return f"{ROOT}/{name}/claims"


def claim_key(name: str, version: str) -> str:
    return f"{ROOT}/{name}/claims/{version}"


def artifact_key(name: str, version: str, file: str) -> str:
    return f"{ROOT}/{name}/{version}/{file}"


def card_key(name: str, version: str) -> str:
    return f"{ROOT}/{name}/{version}/card.json"


def stage_key(name: str, version: str) -> str:
    return f"{ROOT}/{name}/{version}/stage.json"


def routed_prefix() -> str:
    return "routed/"


def routed_key(endpoint: str) -> str:
    return f"routed/{endpoint}.json"


def threshold_key(name: str, version: str) -> str:
    return f"{ROOT}/{name}/{version}/threshold.json"


def events_prefix(name: str) -> str:
    return f"{ROOT}/{name}/events"


def aliases_prefix(name: str) -> str:
    return f"{ROOT}/{name}/aliases"


def alias_key(name: str, alias: str) -> str:
    return f"{ROOT}/{name}/aliases/{alias}.json"


def alias_history_prefix(name: str, alias: str) -> str:
    return f"{ROOT}/{name}/alias-history/{alias}"


def alias_history_key(name: str, alias: str, revision: int) -> str:
    # Zero-padded so that a plain key listing is in revision order.
    return f"{ROOT}/{name}/alias-history/{alias}/{revision:010d}.json"


def comparisons_prefix(name: str) -> str:
    return f"{ROOT}/{name}/comparisons"


def stamp(when: datetime) -> str:
    """A UTC timestamp that sorts as text: ``20260102T030405.000006Z``."""
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
