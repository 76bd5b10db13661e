"""The Examples sections of the public docstrings run as doctests, on the installed package."""

import doctest
import importlib

import numpy as np
import pytest

PUBLIC_MODULES = ["ledkde_fast._backends", "ledkde_fast.empirical", "ledkde_fast.smoothed", "ledkde_fast.sampler",
                  "ledkde_fast.neighbors", "ledkde_fast.estimator", "ledkde_fast.kernels", "ledkde_fast.analysis",
                  "ledkde_fast.datasets", "ledkde_fast.distributed", "ledkde_fast._config",
                  "ledkde_fast.truth", "ledkde_fast.experiments.memorization",
                  "ledkde_fast.experiments.bias_variance", "ledkde_fast.experiments.generalization",
                  "ledkde_fast._image_quality", "ledkde_fast.bandwidths", "ledkde_fast.cli"]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name) if t.examples]
    assert tests, f"{name} has no examples"
    with np.printoptions(legacy=False):
        for test in tests:
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
