"""Telemetry: the prediction, feedback and request logs every later stage feeds on.

The one package that knows the log layout (``logs/<endpoint>/...``): the writers the
gateway logs through (:mod:`~rayops.telemetry.writers`), the readers and joins
monitoring, rollouts, online learning, retraining, ensembles and analytics read
through (:mod:`~rayops.telemetry.readers`), and the per-target logs of
multi-target endpoints (:mod:`~rayops.telemetry.targets`). It sits just above
storage: serving writes through it, everything above reads through it.
"""
