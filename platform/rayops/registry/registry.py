"""The model registry: versions, cards, lifecycle, aliases, loading and comparisons.

Everything lives under ``models/`` of one storage root (see
:mod:`rayops.registry.layout`), so every Ray node, job and client that opens the
same root sees the same registry. There is no lock service: version numbers are
claimed with put-if-absent, stages and aliases move with compare-and-swap, and
history is append-only.

Example:
    >>> import tempfile
    >>> from rayops.storage import open_storage
    >>> reg = Registry(open_storage(tempfile.mkdtemp()))
    >>> reg.list()
    []
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rayops._version import __version__
from rayops.clock import utc_now
from rayops.config import Settings, settings_of
from rayops.errors import (
    InvalidInputError,
    LifecycleError,
    NotFoundError,
)
from rayops.names import validate_name
from rayops.registry import layout
from rayops.registry.aliases import AliasBook, AliasState
from rayops.registry.artifacts import prepare_booster, prepare_ensemble
from rayops.registry.card import EnsembleSpec, Lineage, ModelCard, ModelVersion, jsonable, validated
from rayops.registry.claims import claim_version
from rayops.registry.compare import Comparison, compare_versions
from rayops.registry.events import Event, EventLog
from rayops.registry.lifecycle import Stage, parse_stage
from rayops.registry.loader import load_predictor
from rayops.registry.predictor import EnsemblePredictor, Predictor
from rayops.registry.refs import LATEST, parse_ref, validate_alias
from rayops.registry.stages import move_stage, read_stage
from rayops.registry.versions import Bump, SemVer, is_semver, parse_bump
from rayops.storage.base import Storage
from rayops.tasks import Labels, Task, TaskKind

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

__all__ = ["PRODUCTION", "Registry"]

#: The alias that names the version a model serves in production.
PRODUCTION = "production"


class Registry:
    """Registered models in one storage root.

    Args:
        storage: where everything is kept (local directory or S3).
        now: the clock (returns an aware UTC datetime); inject one in tests.
        settings: tunables (retries, tolerance); default ``Settings()``.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        now: Callable[[], datetime] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings_of(storage, settings)
        self._clock = now or utc_now

    # --- helpers -------------------------------------------------------------------
    def _now(self) -> datetime:
        when = self._clock()
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)

    def _aliases(self, name: str) -> AliasBook:
        return AliasBook(self.storage, name, self._now, self.settings.cas_max_retries)

    def _events(self, name: str) -> EventLog:
        return EventLog(self.storage, name, self._now)

    def _card(self, name: str, version: str) -> ModelCard:
        try:
            data = self.storage.read_json(layout.card_key(name, version))
        except NotFoundError:
            known = [str(v) for v in self._registered(name)]
            if not known:
                self._latest(name)  # raises "No model named ..." with the known names
            raise NotFoundError(
                f"Model {name!r} has no version {version}; registered: {', '.join(known)}."
            ) from None
        return ModelCard.model_validate(data)

    def _registered(self, name: str) -> list[SemVer]:
        """Versions of ``name`` whose card exists, ascending."""
        folders = sorted(
            SemVer.parse(c)
            for c in self.storage.list_children(layout.model_prefix(name))
            if is_semver(c)
        )
        return [v for v in folders if self.storage.exists(layout.card_key(name, str(v)))]

    def _latest_or_none(self, name: str) -> str | None:
        children = self.storage.list_children(layout.model_prefix(name))
        for v in sorted((SemVer.parse(c) for c in children if is_semver(c)), reverse=True):
            if self.storage.exists(layout.card_key(name, str(v))):
                return str(v)
        return None

    def _latest(self, name: str) -> str:
        latest = self._latest_or_none(name)
        if latest is not None:
            return latest
        known = self.list()
        raise NotFoundError(
            f"No model named {name!r}"
            + (f"; registered models: {', '.join(known)}." if known else "; the registry is empty.")
        )

    def resolve(self, ref: str) -> tuple[str, str]:
        """``(name, version)`` for ``name``, ``name@1.2.0``, ``name@alias`` or ``name@latest``."""
        name, selector = parse_ref(ref)
        if selector is None or selector == LATEST:
            return name, self._latest(name)
        if is_semver(selector):
            return name, selector
        state = self._aliases(name).get(selector)
        if state is None:
            names = self._aliases(name).names()
            raise NotFoundError(
                f"Model {name!r} has no alias {selector!r}; "
                + (f"its aliases: {', '.join(names)}." if names else "it has no aliases.")
            )
        return name, state.version

    def _stage(self, name: str, version: str) -> Stage:
        return read_stage(self.storage, name, version, lambda: self._card(name, version).stage)[0]

    def _version(self, name: str, version: str, aliases: dict[str, AliasState]) -> ModelVersion:
        card = self._card(name, version)
        stage = self._stage(name, version)
        pointing = sorted(a for a, s in aliases.items() if s.version == version)
        threshold = self._threshold_now(name, version, card) if card.threshold else None
        return ModelVersion(
            name=name,
            version=version,
            stage=stage,
            aliases=pointing,
            card=card,
            threshold=threshold,
        )

    def uncertainty(self, ref: str) -> dict[str, Any] | None:
        """The version's uncertainty document (intervals, calibration, sets), checked
        against the card's hash; None if none was fitted."""
        import hashlib
        import json

        from rayops.errors import UnsafeArtifactError

        mv = self.get(ref)
        found = mv.card.uncertainty
        if found is None:
            return None
        data = self.storage.read_bytes(layout.artifact_key(mv.name, mv.version, found.file))
        if hashlib.sha256(data).hexdigest() != found.sha256:
            raise UnsafeArtifactError(
                f"The uncertainty document of {mv.ref} does not match its card's SHA-256."
            )
        doc: dict[str, Any] = json.loads(data)
        return doc

    def threshold_override(self, ref: str) -> float | None:
        """The threshold ``set_threshold`` put in force for ``name@version`` (one read; None
        if it was never changed). Gateways poll this for the binary versions they serve."""
        name, _, version = ref.partition("@")
        try:
            doc = self.storage.read_json(layout.threshold_key(name, version))
        except NotFoundError:
            return None
        return float(doc["threshold"])

    def _threshold_now(self, name: str, version: str, card: ModelCard) -> float | None:
        try:
            return float(self.storage.read_json(layout.threshold_key(name, version))["threshold"])
        except NotFoundError:
            return card.threshold

    # --- register --------------------------------------------------------------------
    def register(
        self,
        name: str,
        model: xgb.Booster | EnsembleSpec | bytes,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        features: Sequence[str] | None = None,
        feature_types: Sequence[str] | None = None,
        lineage: Mapping[str, Any] | Lineage | None = None,
        baseline: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        parent: str | None = None,
        bump: Bump | str = "minor",
        author: str | None = None,
        description: str = "",
        stage: Stage | str = Stage.TRAINED,
        task: Task | str | None = None,
        classes: Sequence[Any] | None = None,
        objective: str | None = None,
        threshold: float | None = None,
        target: str | None = None,
        importance: Mapping[str, Mapping[str, float]] | None = None,
        uncertainty: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Store ``model`` as the next version of ``name`` and return it.

        The **task** (regression, binary, multiclass) and a classifier's **classes**
        (the training labels, in output order) are part of the card. Without
        ``task``, a booster's objective decides (``binary:*``, ``multi:*`` or
        regression) and a classifier without ``classes`` gets ``0..K-1``; an
        ensemble takes its members' task and classes, which must agree. A binary
        model's decision ``threshold`` defaults to 0.5. ``importance`` (see
        :func:`rayops.registry.explain.importance`) goes on the card; without it a
        booster's gain and weight importance are recorded. ``uncertainty`` (the document
        :func:`rayops.training.uncertainty.fit_uncertainty` builds) is stored beside the
        artifact as ``uncertainty.json``, its hash and summary on the card.

        ``bump`` picks the version (see :mod:`rayops.registry.versions`): ``minor``
        for a new training run, ``patch`` with ``parent=`` for a fine-tune or online
        update, ``major`` when asked. Concurrent registrations always get distinct
        versions. New versions start in ``trained`` (or ``draft``).

        ``model`` is an ``xgboost.Booster``, the bytes of a saved ``.ubj``/``.json``
        model (with ``features=``), or an :class:`EnsembleSpec` of registered versions.

        Example:
            >>> mv = reg.register("churn", booster, metrics={"cv": {"rmse": 4.1}},  # doctest: +SKIP
            ...                   lineage={"feature_set": "churn-fs", "version": 3,
            ...                            "sha256": fs_version.sha256, "rows": 10_000},
            ...                   baseline=baseline_from_frame(train_df, features), run_id=run)
            >>> mv.ref  # doctest: +SKIP
            'churn@1.3.0'
            >>> reg.register("churn", tuned, bump="patch", parent=mv.ref).version  # doctest: +SKIP
            '1.3.1'
        """
        validate_name(name, "model name")
        kind = parse_bump(bump)
        initial = parse_stage(stage)
        if initial not in (Stage.DRAFT, Stage.TRAINED):
            raise InvalidInputError(
                f"New versions start as draft or trained, not {initial.value}; register, "
                "then move it with transition()."
            )
        parent_ref = None
        parent_semver = None
        if parent is not None:
            p_name, p_version = self.resolve(parent)
            self._card(p_name, p_version)  # must exist
            parent_ref = f"{p_name}@{p_version}"
            if p_name == name:
                parent_semver = SemVer.parse(p_version)
        lineage_model = (
            lineage
            if isinstance(lineage, Lineage) or lineage is None
            else validated(Lineage, dict(lineage), "lineage")
        )
        spec = self._pin_members(model) if isinstance(model, EnsembleSpec) else None
        if spec is not None:
            feats = features if features is not None else self._member_features(spec)
            prepared = prepare_ensemble(spec, feats)
            decided = self._ensemble_task(spec, task, classes, threshold)
        else:
            prepared = prepare_booster(model, features, feature_types)
            decided = _booster_task(model, task, classes, objective, threshold)
        # Validate the whole card before claiming a number, so a bad input burns none.
        draft = validated(
            ModelCard,
            {
                "name": name,
                "version": "0.0.0",
                "kind": prepared.kind,
                **decided,
                "target": target,
                "importance": jsonable(dict(importance))
                if importance is not None
                else _tree_importance(model, prepared.features),
                "params": jsonable(dict(params or {})),
                "metrics": jsonable(dict(metrics or {})),
                "features": prepared.features,
                "feature_types": prepared.feature_types,
                "lineage": lineage_model,
                "baseline": jsonable(dict(baseline)) if baseline is not None else None,
                "run_id": run_id,
                "parent": parent_ref,
                "bump": kind.value,
                "stage": initial,
                "created_at": self._now(),
                "author": author,
                "description": description,
                "artifact": prepared.artifact(),
                "uncertainty": _uncertainty_ref(uncertainty),
                "ensemble": spec,
                "library_versions": {"rayops": __version__, **prepared.libraries},
            },
            "model card",
        )
        v = str(
            claim_version(
                self.storage,
                name,
                kind,
                parent=parent_semver,
                run_id=run_id,
                now=self._now,
                max_attempts=self.settings.cas_max_retries,
            )
        )
        card = draft.model_copy(update={"version": v, "created_at": self._now()})
        self.storage.write_bytes(layout.artifact_key(name, v, prepared.file), prepared.data)
        if uncertainty is not None:
            self.storage.write_bytes(
                layout.artifact_key(name, v, "uncertainty.json"), _uncertainty_bytes(uncertainty)
            )
        # The card goes last: the version becomes visible only once it is complete.
        self.storage.put_json_if_absent(layout.card_key(name, v), card.model_dump(mode="json"))
        self._events(name).append(
            "registered", version=v, to_stage=initial, actor=author, details={"bump": kind.value}
        )
        return ModelVersion(name=name, version=v, stage=initial, card=card)

    def _ensemble_task(
        self,
        spec: EnsembleSpec,
        task: Task | str | None,
        classes: Sequence[Any] | None,
        threshold: float | None,
    ) -> dict[str, Any]:
        """An ensemble's task and classes: its members' (which must agree)."""
        cards = [self.get(m).card for m in spec.members]
        first = cards[0]
        if spec.kind != "multi_target":
            for card in cards[1:]:
                if card.task != first.task or card.classes != first.classes:
                    raise InvalidInputError(
                        f"Ensemble members must share one task and class list: {first.ref} is "
                        f"{first.task.value} {first.classes or ''}, {card.ref} is "
                        f"{card.task.value} {card.classes or ''}."
                    )
        if task is not None and Task.of(task).kind != first.task:
            raise InvalidInputError(
                f"task={Task.of(task)} does not match the members' task {first.task.value}."
            )
        if classes is not None and list(classes) != first.classes:
            raise InvalidInputError(
                f"classes={list(classes)} differ from the members' classes {first.classes}."
            )
        return {
            "task": first.task,
            "classes": first.classes,
            "objective": None,
            "threshold": _threshold(Task.of(first.task), threshold, first.threshold),
        }

    def _member_features(self, spec: EnsembleSpec) -> builtins.list[str]:
        seen: dict[str, None] = {}
        for ref in spec.members:
            seen.update(dict.fromkeys(self.get(ref).card.features))
        return builtins.list(seen)

    def _pin_members(self, spec: EnsembleSpec) -> EnsembleSpec:
        """The spec with every member (and meta) resolved to a fixed ``name@version``."""

        def pin(ref: str) -> str:
            n, v = self.resolve(ref)
            self._card(n, v)
            return f"{n}@{v}"

        return spec.model_copy(
            update={
                "members": [pin(m) for m in spec.members],
                "meta": pin(spec.meta) if spec.meta else None,
            }
        )

    # --- read ------------------------------------------------------------------------
    def get(self, ref: str) -> ModelVersion:
        """The card, current stage and aliases of ``name[@version|@alias]`` (bare: latest)."""
        name, version = self.resolve(ref)
        return self._version(name, version, self._aliases(name).all())

    def versions(self, name: str) -> builtins.list[ModelVersion]:
        """Every registered version of ``name``, oldest first."""
        validate_name(name, "model name")
        aliases = self._aliases(name).all()
        return [self._version(name, str(v), aliases) for v in self._registered(name)]

    def load(self, ref: str) -> Predictor | EnsemblePredictor:
        """A ready predictor for ``ref``, after checking its artifact's SHA-256 and format.

        Raises:
            UnsafeArtifactError: the artifact is missing, modified, or not UBJSON/JSON.

        Example:
            >>> reg.load("churn@production").predict(df)  # doctest: +SKIP
            array([51.2, 47.9, ...])
        """
        return load_predictor(self.storage, self.get, ref)

    # --- lifecycle -------------------------------------------------------------------
    def transition(
        self, ref: str, stage: Stage | str, *, reason: str | None = None, actor: str | None = None
    ) -> ModelVersion:
        """Move a version to ``stage`` if the lifecycle allows it, and record the event.

        Raises:
            InvalidInputError: the move is not allowed; the message names the allowed ones.

        Example:
            >>> reg.transition("churn@1.3.0", Stage.STAGING, reason="passed CV",  # doctest: +SKIP
            ...                actor="ann").stage
            <Stage.STAGING: 'staging'>
        """
        target = parse_stage(stage)
        name, version = self.resolve(ref)

        def guard(current: Stage) -> None:
            aliased = self._aliases(name).all().get(PRODUCTION)
            if current is Stage.PRODUCTION and aliased is not None and aliased.version == version:
                raise LifecycleError(
                    f"{name}@{version} is what the production alias points at; promote or roll "
                    "back to another version first (its stage follows the alias)."
                )
            if target is not Stage.ARCHIVED:
                return
            held = sorted(a for a, s in self._aliases(name).all().items() if s.version == version)
            if held:
                raise LifecycleError(
                    f"Cannot archive {name}@{version}: aliases {', '.join(held)} point at it; "
                    "move them to another version first."
                )
            routed = self.routed_by(f"{name}@{version}")
            if routed:
                raise LifecycleError(
                    f"Cannot archive {name}@{version}: endpoints {', '.join(routed)} route "
                    "traffic to it; change their routes first."
                )

        previous = move_stage(
            self.storage,
            name,
            version,
            target,
            registered=lambda: self._card(name, version).stage,
            guard=guard,
            now=self._now,
            actor=actor,
            reason=reason,
            max_attempts=self.settings.cas_max_retries,
        )
        self._events(name).append(
            "stage",
            version=version,
            from_stage=previous,
            to_stage=target,
            actor=actor,
            reason=reason,
        )
        if target is Stage.PRODUCTION:  # the alias follows the stage, and the stage the alias
            self.set_alias(name, PRODUCTION, version, reason=reason, actor=actor)
        return self.get(f"{name}@{version}")

    def archive(
        self, ref: str, *, reason: str | None = None, actor: str | None = None
    ) -> ModelVersion:
        """Move a version to ``archived``; its artifacts stay (it can be restored to trained)."""
        return self.transition(ref, Stage.ARCHIVED, reason=reason, actor=actor)

    def set_threshold(
        self, ref: str, threshold: float, *, reason: str | None = None, actor: str | None = None
    ) -> ModelVersion:
        """Change a binary classifier's decision threshold and record the event.

        The card keeps the threshold the version was registered with; the one in
        force lives beside it (``threshold.json``). Gateways serving the version
        pick the change up on their next poll of the version's serving state.

        Example:
            >>> mv = reg.set_threshold("churn@1.2.0", 0.35, reason="recall")  # doctest: +SKIP
            >>> mv.threshold  # doctest: +SKIP
            0.35
        """
        name, version = self.resolve(ref)
        card = self._card(name, version)
        if card.task is not TaskKind.BINARY:
            raise InvalidInputError(
                f"{name}@{version} is a {card.task.value} model; only binary classifiers have "
                "a decision threshold."
            )
        value = _threshold(Task.of(card.task), threshold)
        previous = self._threshold_now(name, version, card)
        self.storage.write_json(
            layout.threshold_key(name, version),
            {"threshold": value, "since": self._now().isoformat(), "actor": actor,
             "reason": reason, "previous": previous},
        )  # fmt: skip
        self._events(name).append(
            "threshold",
            version=version,
            actor=actor,
            reason=reason,
            details={"threshold": value, "previous": previous},
        )
        return self.get(f"{name}@{version}")

    def delete(self, ref: str, *, reason: str | None = None, actor: str | None = None) -> None:
        """Delete an archived version's card and artifacts. Its number is never reused.

        Raises:
            InvalidInputError: the version is not archived.
        """
        name, version = self.resolve(ref)
        stage = self._stage(name, version)
        if stage is not Stage.ARCHIVED:
            raise InvalidInputError(
                f"Only archived versions can be deleted; {name}@{version} is {stage.value}. "
                f"Archive it first: transition('{name}@{version}', 'archived')."
            )
        routed = self.routed_by(f"{name}@{version}")
        if routed:
            raise LifecycleError(
                f"Cannot delete {name}@{version}: endpoints {', '.join(routed)} route "
                "traffic to it."
            )
        card = self._card(name, version)
        # Card first: from this moment on the version is gone for every reader.
        self.storage.delete(layout.card_key(name, version))
        self.storage.delete(layout.artifact_key(name, version, card.artifact.file))
        self.storage.delete(layout.stage_key(name, version))
        self._events(name).append("deleted", version=version, actor=actor, reason=reason)

    # --- aliases ---------------------------------------------------------------------
    def set_alias(
        self,
        name: str,
        alias: str,
        version: str,
        reason: str | None = None,
        actor: str | None = None,
    ) -> AliasState:
        """Point ``alias`` at ``version`` (compare-and-swap; retried on a concurrent move).

        ``version`` is a version or another alias of the same model. Archived
        versions cannot be aliased.

        Example:
            >>> reg.set_alias("churn", "production", "1.3.0", reason="canary ok")  # doctest: +SKIP
            AliasState(alias='production', version='1.3.0', revision=4, previous='1.2.0', ...)
        """
        validate_alias(alias)
        _, resolved = self.resolve(f"{validate_name(name, 'model name')}@{version}")
        self._check_aliasable(name, resolved)
        state = self._aliases(name).move(alias, lambda _: resolved, actor=actor, reason=reason)
        if alias == PRODUCTION:
            self._follow_production(name, state, actor, reason)
        return state

    def _follow_production(
        self, name: str, state: AliasState, actor: str | None, reason: str | None
    ) -> None:
        """The production stage follows the production alias: its version is in stage
        production, and the version it replaced goes back to staging."""
        why = f"production alias: {reason}" if reason else "production alias moved"
        moves = [(state.version, Stage.PRODUCTION)]
        if state.previous and state.previous != state.version:
            moves.append((state.previous, Stage.STAGING))
        for version, target in moves:
            if target is Stage.STAGING and self._stage(name, version) is not Stage.PRODUCTION:
                continue  # only a production-stage version is demoted
            previous = move_stage(
                self.storage, name, version, target,
                registered=lambda v=version: self._card(name, v).stage,  # type: ignore[misc]
                guard=lambda _: None, now=self._now, actor=actor, reason=why,
                max_attempts=self.settings.cas_max_retries, follow_alias=True,
            )  # fmt: skip
            if previous is not target:
                self._events(name).append("stage", version=version, from_stage=previous,
                                          to_stage=target, actor=actor, reason=why)  # fmt: skip

    # --- routing (who uses a version) ---------------------------------------------------
    def check_routable(self, ref: str) -> None:
        """Refuse (:class:`LifecycleError`, HTTP 409) routing traffic to a draft or
        archived version."""
        name, version = self.resolve(ref)
        stage = self._stage(name, version)
        if stage in (Stage.DRAFT, Stage.ARCHIVED):
            how = "restore it to trained" if stage is Stage.ARCHIVED else "finish it (trained)"
            raise LifecycleError(
                f"{name}@{version} is {stage.value} and cannot take traffic; {how} first: "
                f"rayops models stage {name}@{version} trained."
            )

    def record_routes(self, endpoint: str, refs: Sequence[str]) -> None:
        """Remember which versions ``endpoint`` routes (the endpoints call this after every
        routing change), so a routed version cannot be archived or deleted."""
        key = layout.routed_key(validate_name(endpoint, "endpoint name"))
        if refs:
            self.storage.write_json(key, {"endpoint": endpoint, "refs": sorted(set(refs))})
        else:
            self.storage.delete(key)

    def routed_by(self, ref: str) -> builtins.list[str]:
        """Endpoints that route traffic to ``ref`` (as they last recorded it)."""
        out = []
        for key in self.storage.list_keys(layout.routed_prefix()):
            try:
                doc = self.storage.read_json(key)
            except NotFoundError:
                continue
            if ref in doc.get("refs", []):
                out.append(str(doc.get("endpoint")))
        return sorted(out)

    def _check_aliasable(self, name: str, version: str) -> None:
        stage = self._stage(name, version)  # raises NotFoundError if absent
        if stage is Stage.ARCHIVED:
            raise InvalidInputError(
                f"{name}@{version} is archived; restore it to trained before pointing an "
                "alias at it."
            )

    def rollback_alias(
        self, name: str, alias: str, *, reason: str | None = None, actor: str | None = None
    ) -> AliasState:
        """Point ``alias`` back at the version it held before its last move."""
        validate_alias(alias)

        def previous(current: AliasState | None) -> str:
            if current is None:
                raise NotFoundError(f"Model {name!r} has no alias {alias!r} to roll back.")
            if current.previous is None:
                raise InvalidInputError(
                    f"Alias {alias!r} of {name!r} has pointed only at {current.version}; "
                    "there is nothing to roll back to."
                )
            self._check_aliasable(name, current.previous)
            return current.previous

        why = reason or "rollback"
        state = self._aliases(name).move(alias, previous, actor=actor, reason=why)
        if alias == PRODUCTION:
            self._follow_production(name, state, actor, why)
        return state

    def aliases(self, name: str) -> dict[str, AliasState]:
        """Every alias of ``name`` and where it points now."""
        return self._aliases(validate_name(name, "model name")).all()

    def production(self, name: str) -> ModelVersion | None:
        """The version the ``production`` alias of ``name`` points at; None if it has none.

        The one place that answers "what is in production?"; a model that was never
        promoted, or never registered, has no production version.

        Example:
            >>> reg.production("churn").ref  # doctest: +SKIP
            'churn@1.2.0'
        """
        validate_name(name, "model name")
        state = self._aliases(name).all().get(PRODUCTION)
        return None if state is None else self.get(f"{name}@{state.version}")

    def alias_history(self, name: str, alias: str) -> builtins.list[AliasState]:
        """Every move of ``alias``, oldest first."""
        return self._aliases(validate_name(name, "model name")).history(validate_alias(alias))

    def alias_at(self, name: str, alias: str, when: datetime) -> str | None:
        """The version ``alias`` pointed at, at time ``when`` (None before its first move).

        A naive ``when`` is read as UTC.

        Example:
            >>> when = datetime(2026, 4, 9, tzinfo=UTC)
            >>> reg.alias_at("churn", "production", when)  # doctest: +SKIP
            '1.1.0'
        """
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
        return self._aliases(validate_name(name, "model name")).at(validate_alias(alias), when)

    def history(self, name: str) -> builtins.list[Event]:
        """Registrations, stage moves, alias moves and deletions of ``name``, oldest first."""
        validate_name(name, "model name")
        events = self._events(name).all()
        book = self._aliases(name)
        for alias in book.names():
            events.extend(Event.from_alias(name, s) for s in book.history(alias))
        return sorted(events, key=lambda e: e.time)

    # --- compare ---------------------------------------------------------------------
    def compare(
        self,
        refs: Sequence[str],
        frame: pd.DataFrame,
        target: str,
        *,
        dataset: str | None = None,
        tolerance: float | None = None,
    ) -> Comparison:
        """Evaluate versions on the same rows (metrics and latency per 1k rows); store it.

        The comparison is stored under ``models/<name>/comparisons/`` of every model
        it involves; see :func:`rayops.registry.compare.compare_versions`.
        """
        return compare_versions(
            self.storage,
            refs,
            self.load,
            frame,
            target,
            when=self._now(),
            dataset=dataset,
            tolerance=tolerance
            if tolerance is not None
            else self.settings.training.accuracy_tolerance,
            repeats=self.settings.registry.compare_repeats,
            card=lambda ref: self.get(ref).card,
        )

    def comparisons(self, name: str) -> builtins.list[Comparison]:
        """Stored comparisons involving ``name``, oldest first."""
        keys = self.storage.list_keys(
            layout.comparisons_prefix(validate_name(name, "model name")) + "/"
        )
        return [Comparison.model_validate(self.storage.read_json(k)) for k in keys]

    def list(self) -> builtins.list[str]:
        """Names of every model with at least one registered version, sorted."""
        out = []
        for child in self.storage.list_children(layout.ROOT):
            try:
                validate_name(child)
            except InvalidInputError:
                continue
            if self._latest_or_none(child) is not None:
                out.append(child)
        return out


def _threshold(task: Task, given: float | None, default: float | None = None) -> float | None:
    if task.kind is not TaskKind.BINARY:
        if given is not None:
            raise InvalidInputError(f"Only a binary model has a threshold, not a {task} one.")
        return None
    value = given if given is not None else (default if default is not None else 0.5)
    if not 0 < value < 1:
        raise InvalidInputError(f"The decision threshold must be in (0, 1), got {value}.")
    return float(value)


def _booster_task(
    model: Any,
    task: Task | str | None,
    classes: Sequence[Any] | None,
    objective: str | None,
    threshold: float | None,
) -> dict[str, Any]:
    """A booster's task, classes, objective and threshold, from the caller or the model."""
    from rayops.registry.artifacts import booster_objective

    own, num_class = booster_objective(model)
    chosen = objective or own
    decided = Task.of(task) if task is not None else Task.of_objective(chosen)
    if chosen is not None and chosen not in decided.objectives:
        raise InvalidInputError(
            f"The model's objective {chosen!r} does not fit a {decided} task; rayops serves "
            f"{decided} models trained with {', '.join(decided.objectives)}."
        )
    labels: list[Any] | None = None
    if decided.is_classification:
        k = 2 if decided.kind is TaskKind.BINARY else num_class
        labels = list(classes) if classes is not None else list(range(k))
        if num_class and decided.kind is TaskKind.MULTICLASS and len(labels) != num_class:
            raise InvalidInputError(
                f"The model predicts {num_class} classes but {len(labels)} were given."
            )
        labels = Labels(labels).classes
    elif classes is not None:
        raise InvalidInputError("A regression model has no classes.")
    return {
        "task": decided.kind,
        "classes": labels,
        "objective": chosen,
        "threshold": _threshold(decided, threshold),
    }


def _tree_importance(model: Any, features: Sequence[str]) -> dict[str, Any] | None:
    """A booster's gain and weight importance (None for ensembles and saved bytes)."""
    import xgboost as xgb

    if not isinstance(model, xgb.Booster):
        return None
    from rayops.registry.explain import importance
    from rayops.registry.predictor import Predictor

    try:
        found = importance(Predictor("new", model, features))
    except Exception:  # importance is a courtesy on the card; it never blocks a registration
        return None
    return found or None


def _uncertainty_bytes(doc: Mapping[str, Any]) -> bytes:
    from rayops.storage.base import dumps

    return dumps(jsonable(dict(doc)))


def _uncertainty_ref(doc: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The card's summary of an uncertainty document (its hash, kind, calibration figures)."""
    import hashlib

    if doc is None:
        return None
    data = _uncertainty_bytes(doc)
    intervals = doc.get("intervals") or None
    calibration = doc.get("calibration") or None
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": str(doc.get("source", "holdout")),
        "rows": int(doc.get("rows", 0)),
        "intervals": intervals.get("kind") if intervals else None,
        "context": list(intervals.get("context", [])) if intervals else [],
        "calibration": {k: v for k, v in calibration.items() if k != "params"}
        if calibration
        else None,
        "sets": bool(doc.get("sets")),
    }
