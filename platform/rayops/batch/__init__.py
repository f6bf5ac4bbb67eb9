"""Batch scoring on Ray Data: a registered model over a feature set or Parquet files.

``rayops predict-batch MODEL (--features NAME[@V] | --data URI_OR_GLOB)`` and
``python -m rayops.jobs.batch_predict`` (a Ray job) both call :func:`run_batch`:
the input's row groups are cut into parts, scoring actors (one model load
each) read, score and write one part per call, and ``manifest.json`` is written
last under ``batch/<job_id>/`` of the output root. A rerun of the same job skips
the parts already written. See :mod:`rayops.batch.spec` for the layout,
:mod:`rayops.batch.scorer` for the output columns.

Example:
    >>> from rayops.batch import part_name
    >>> part_name(0, 4)
    'part-00000-00004.parquet'
"""

from __future__ import annotations

from rayops.batch.job import BatchProgress, get_job, list_jobs, run_batch
from rayops.batch.spec import BatchDefinition, BatchInput, BatchManifest, PartResult, part_name

__all__ = [
    "BatchDefinition",
    "BatchInput",
    "BatchManifest",
    "BatchProgress",
    "PartResult",
    "get_job",
    "list_jobs",
    "part_name",
    "run_batch",
]
