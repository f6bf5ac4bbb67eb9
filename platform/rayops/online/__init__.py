"""Online learning: buffered incremental updates of a serving model, behind a
validation gate, hot-swapped through the rollout mechanism.

* :mod:`~rayops.online.learner` — :class:`OnlineLearner`: enable/disable/configure,
  status, the update log, one update cycle (``step``, ``update_now``).
* :mod:`~rayops.online.task` — :class:`OnlineTask`, the control loop's step.
* :mod:`~rayops.online.buffer` — the durable buffer, derived from the serving logs
  and a stored cursor.
* :mod:`~rayops.online.update` — the in-process incremental update and the gate.
* :mod:`~rayops.online.cycle` — the order of effects of one update.
* :mod:`~rayops.online.config`, :mod:`~rayops.online.state`,
  :mod:`~rayops.online.records`, :mod:`~rayops.online.replay` — what is stored
  under ``online/<endpoint>/``.

Storage layout::

    online/<endpoint>/config.json           enabled + overrides (compare-and-swap)
    online/<endpoint>/state.json            cursor, counters, update claim (compare-and-swap)
    online/<endpoint>/updates/<t>-<id>.json the update log (put-if-absent)
    online/<endpoint>/replay.parquet        the replay window (replaced atomically)

Example:
    >>> UpdateMode("both") is UpdateMode.BOTH
    True
"""

from __future__ import annotations

from rayops.online.config import OnlineConfig, UpdateMode
from rayops.online.learner import OnlineLearner
from rayops.online.records import UpdateRecord, UpdateStatus

__all__ = ["OnlineConfig", "OnlineLearner", "UpdateMode", "UpdateRecord", "UpdateStatus"]
