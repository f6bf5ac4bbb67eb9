"""Monitoring: the serving logs joined with feedback, metrics, drift, health and alerts.

* :mod:`~rayops.monitoring.logs` — read and join the prediction and feedback logs.

Importing this package is cheap: pandas and pyarrow load inside the functions.
"""

from __future__ import annotations

from rayops.monitoring.logs import joined, read_feedback, read_predictions

__all__ = ["joined", "read_feedback", "read_predictions"]
