"""Experiments that reproduce the paper's claims (see :mod:`.memorization`)."""

from .memorization import DATASETS, memorization_experiment

__all__ = ["DATASETS", "memorization_experiment"]
