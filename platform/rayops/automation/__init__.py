"""Automated retraining: retrain requests, triggers, schedules and jobs on Ray Jobs.

* :mod:`~rayops.automation.requests` — retrain requests filed by monitoring alerts
  and online learning, consumed by the retrain controller.
"""

from __future__ import annotations

from rayops.automation.requests import RetrainRequest, pending_requests, request_retrain

__all__ = ["RetrainRequest", "pending_requests", "request_retrain"]
