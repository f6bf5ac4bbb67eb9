"""The model registry: semantic versions, lifecycle, aliases with history, lineage, comparisons.

Every object lives under ``models/`` of the storage root, so every Ray node, job
and client that opens the root shares the registry. See
:mod:`rayops.registry.layout` for the keys and :class:`Registry` for the API.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> from rayops.registry import Registry, Stage
    >>> reg = Registry(open_storage(tempfile.mkdtemp()))
    >>> reg.list()
    []
    >>> Stage.PRODUCTION.value
    'production'
"""

from __future__ import annotations

from rayops.registry.aliases import AliasState
from rayops.registry.baseline import baseline_from_frame
from rayops.registry.card import Artifact, EnsembleSpec, Lineage, ModelCard, ModelVersion
from rayops.registry.compare import Comparison, ComparisonResult
from rayops.registry.events import Event
from rayops.registry.lifecycle import ALLOWED, Stage
from rayops.registry.predictor import EnsemblePredictor, Predictor
from rayops.registry.registry import PRODUCTION, Registry
from rayops.registry.versions import Bump, SemVer

__all__ = [
    "ALLOWED",
    "AliasState",
    "Artifact",
    "Bump",
    "Comparison",
    "ComparisonResult",
    "EnsemblePredictor",
    "EnsembleSpec",
    "Event",
    "Lineage",
    "ModelCard",
    "ModelVersion",
    "PRODUCTION",
    "Predictor",
    "Registry",
    "SemVer",
    "Stage",
    "baseline_from_frame",
]
