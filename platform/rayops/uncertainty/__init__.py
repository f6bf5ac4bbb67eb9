"""Uncertainty: conformal intervals and sets, calibration, adaptive coverage, and
performance estimated before labels arrive.

* :mod:`~rayops.uncertainty.intervals` — split-conformal (and Mondrian) regression intervals;
* :mod:`~rayops.uncertainty.sets` — conformal prediction sets for classifiers;
* :mod:`~rayops.uncertainty.calibration` — isotonic / Platt / temperature calibration;
* :mod:`~rayops.uncertainty.aci` — adaptive conformal inference from delayed labels;
* :mod:`~rayops.uncertainty.estimation` — expected metrics without labels;
* :mod:`~rayops.uncertainty.coverage` — the coverage alarm (binomial test).

Everything is fitted from out-of-fold or holdout predictions and kept as JSON
beside the model version, never pickled. The conformal machinery is crepes'.
"""
