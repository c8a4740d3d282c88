"""The Examples sections of the experiments and maps modules run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "facebridge.experiments.core",
    "facebridge.experiments.matrix",
    "facebridge.experiments.sweeps",
    "facebridge.experiments.crossfit",
    "facebridge.experiments.compare",
    "facebridge.experiments.equivalence",
    "facebridge.experiments.privacy",
    "facebridge.report.equivalence",
    "facebridge.maps.moments",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
