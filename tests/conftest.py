"""Shared fixtures: the real data directory (skips with a reason when absent) and small fakes."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

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


REQUIRE_REAL_ENV = "FACEBRIDGE_REQUIRE_REAL"
_REAL_MARKERS = ("realdata", "weights")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """With ``FACEBRIDGE_REQUIRE_REAL=1`` (set by ``.ci/run``), a ``realdata`` or ``weights`` test
    that skips is reported as failed: CI provides ../shared/data and the pulled weights, so there
    such a skip means the real parts were silently not exercised."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and os.environ.get(REQUIRE_REAL_ENV) == "1"
        and any(item.get_closest_marker(m) for m in _REAL_MARKERS)
    ):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_REAL_ENV}=1 but this real-data/weights test skipped: {reason}"
