"""What a batch job is (its definition), what it wrote, and where everything lives.

Under the output root (the storage root unless ``--output`` names another)::

    batch/<job_id>/job.json                 the definition, written before any part
    batch/<job_id>/part-FFFFF-GGGGG.parquet the scores of input file F from row group G
    batch/<job_id>/_parts/<part>.json       written after its part: that part is complete
    batch/<job_id>/manifest.json            written last: model, lineage, rows, metrics

A part is named by the input file and the first row group it scores, so the
same job always cuts its input into the same parts and a rerun knows which are
done. The **definition** (model version, input lineage, options) has a hash;
the default job id is made from it, so running the same command again resumes
(or returns) the same job, and a job id that already holds a different
definition is refused instead of mixing two jobs' outputs.

Example:
    >>> part_name(3, 12)
    'part-00003-00012.parquet'
    >>> manifest_key("nightly")
    'batch/nightly/manifest.json'
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rayops.names import validate_name

__all__ = [
    "ROOT",
    "BatchDefinition",
    "BatchInput",
    "BatchManifest",
    "InputFile",
    "Part",
    "PartResult",
    "done_key",
    "job_dir",
    "job_key",
    "manifest_key",
    "part_name",
]

ROOT = "batch"

#: Bumped when the manifest layout changes incompatibly.
MANIFEST_FORMAT = 1


def job_dir(job_id: str) -> str:
    return f"{ROOT}/{validate_name(job_id, 'batch job id')}/"


def job_key(job_id: str) -> str:
    return job_dir(job_id) + "job.json"


def manifest_key(job_id: str) -> str:
    return job_dir(job_id) + "manifest.json"


def part_name(file_index: int, first_row_group: int) -> str:
    return f"part-{file_index:05d}-{first_row_group:05d}.parquet"


def done_key(job_id: str, part: str) -> str:
    return job_dir(job_id) + f"_parts/{part.removesuffix('.parquet')}.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputFile(_Model):
    """One input Parquet file: where it is, its size and its row groups' row counts."""

    path: str = Field(description="Path inside the input's pyarrow filesystem.")
    uri: str = Field(description="The file as the user would name it (s3://... or /path).")
    size: int
    row_groups: list[int] = Field(description="Rows of each row group, in order.")

    @property
    def rows(self) -> int:
        return sum(self.row_groups)


class BatchInput(_Model):
    """Where the rows come from: a feature-set version or listed Parquet files."""

    kind: Literal["feature_set", "files"]
    uri: str = Field(description="The storage root (feature sets) or the given path or glob.")
    feature_set: str | None = None
    version: int | None = None
    sha256: str | None = None
    files: list[InputFile]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def lineage(self) -> dict[str, Any]:
        """The input as the manifest records it."""
        if self.kind == "feature_set":
            return {"source": "feature_set", "feature_set": self.feature_set,
                    "version": self.version, "sha256": self.sha256, "rows": self.rows}  # fmt: skip
        files = [{"uri": f.uri, "size": f.size, "rows": f.rows} for f in self.files]
        return {"source": "files", "uri": self.uri, "rows": self.rows, "files": files}


class Part(_Model):
    """One unit of work: consecutive row groups of one input file, one output file."""

    name: str
    file: int = Field(description="Index of the input file in BatchInput.files.")
    row_groups: list[int]
    rows: int


class BatchDefinition(_Model):
    """Everything that decides a job's output; equal definitions give equal outputs."""

    model: str = Field(description="The pinned model, name@version.")
    input: BatchInput
    id_columns: list[str]
    label_column: str | None = Field(
        default=None, description="The input column with the true values (for metrics)."
    )
    target_labels: dict[str, str] = Field(
        default_factory=dict,
        description="A multi-target ensemble's targets -> input columns with their true values.",
    )
    explain: bool = False
    rows_per_part: int
    ensemble_stats: dict[str, Any] = Field(
        default_factory=dict,
        description="Dynamic/voting ensembles' member stats as read when the job was defined.",
    )

    def sha256(self) -> str:
        doc = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(doc.encode()).hexdigest()

    def default_job_id(self) -> str:
        """``<model name>-<12 hex digits of the definition's hash>``."""
        return f"{self.model.partition('@')[0]}-{self.sha256()[:12]}"


class PartResult(_Model):
    """What scoring one part did (stored in ``_parts/`` and in the manifest)."""

    name: str
    rows: int
    node_id: str = Field(description="The Ray node that scored it.")
    seconds: float
    scored_at: datetime


class BatchManifest(_Model):
    """``manifest.json``: written last, so its presence means every part is there."""

    format: int = MANIFEST_FORMAT
    job_id: str
    output: str = Field(description="The output root URI; the parts are under batch/<job_id>/.")
    definition: BatchDefinition
    definition_sha256: str
    columns: list[str]
    rows: int
    parts: list[PartResult]
    metrics: dict[str, Any] | None = Field(
        default=None, description="The task's metrics per target, when true values were given."
    )
    created_at: datetime
    finished_at: datetime
    seconds: float = Field(description="Wall time of the run that finished the job.")
    resumed_parts: int = Field(description="Parts found complete from an earlier run.")

    def summary(self) -> dict[str, Any]:
        """A short JSON-ready view (``rayops batch list``)."""
        return {
            "job_id": self.job_id,
            "model": self.definition.model,
            "input": self.definition.input.lineage(),
            "rows": self.rows,
            "parts": len(self.parts),
            "output": f"{self.output.rstrip('/')}/{job_dir(self.job_id)}",
            "metrics": self.metrics,
            "finished_at": self.finished_at.isoformat(),
        }
