"""Experiments of this library: memorisation (:mod:`.memorization`), the bias-variance trade-off
against a known law (:mod:`.bias_variance`) and the generalisation study (:mod:`.generalization`).
"""

from .bias_variance import FAMILIES, bias_variance_experiment
from .generalization import STUDIES, generalization_experiment
from .memorization import DATASETS, memorization_experiment

__all__ = ["DATASETS", "FAMILIES", "STUDIES", "bias_variance_experiment", "generalization_experiment",
           "memorization_experiment"]
