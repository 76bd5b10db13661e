"""Experiments of this library: memorisation (:mod:`.memorization`) and the
bias-variance trade-off against a known law (:mod:`.bias_variance`).
"""

from .bias_variance import FAMILIES, bias_variance_experiment
from .memorization import DATASETS, memorization_experiment

__all__ = ["DATASETS", "FAMILIES", "bias_variance_experiment", "memorization_experiment"]
