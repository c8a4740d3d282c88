"""Shared fixtures: the real data directory (skips with a reason when absent) and small fakes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facebridge.config import find_data_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    p = find_data_dir()
    if p is None:
        pytest.skip("real data absent: set FACEBRIDGE_DATA to the folder holding lfw/ and ytf/")
    return p


@pytest.fixture(scope="session")
def lfw_dir(data_dir: Path) -> Path:
    p = data_dir / "lfw"
    if not (p / "pairs.txt").is_file():
        pytest.skip(f"LFW pairs.txt absent under {p}")
    return p


@pytest.fixture(scope="session")
def tiny_lfw_dir(data_dir: Path) -> Path:
    p = data_dir / "fixtures" / "lfw-tiny"
    if not p.is_dir():
        pytest.skip(f"lfw-tiny fixture absent under {p}")
    return p


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
