"""Error paths of protocols / store / maps / metrics that no module-specific test provokes.

One case per ``raise``: the call that triggers it, the error class and the message (file:line of
the raise in the case id, as of this test's writing).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facebridge.errors import DimensionError, FacebridgeError, InvalidInputError, StoreError
from facebridge.maps import fit_ridge
from facebridge.maps.cv import Moments, fit_ridge_cv, fit_ridge_gcv_moments
from facebridge.maps.shared import fit_hub, fit_shared_space
from facebridge.metrics import accuracy_at, best_threshold, kfold_accuracy, kfold_accuracy_batch
from facebridge.metrics.curves import tar_at_far
from facebridge.metrics.identification import (
    cmc_curve,
    dir_at_fpir,
    normalize_rows,
    rank_scores,
    search,
)
from facebridge.metrics.linkability import score_densities
from facebridge.metrics.similarity import canonical_correlations, linear_cka, svcca
from facebridge.store import _chunks

_RNG = np.random.default_rng(0)
X = _RNG.normal(size=(10, 4))
Y = _RNG.normal(size=(10, 3))
S4 = np.array([0.1, 0.2, 0.3, 0.4])
G4 = np.array([True, False, True, False])
F4 = np.array([0, 0, 1, 1])


def _nan(a: np.ndarray) -> np.ndarray:
    b = a.copy()
    b[2, 1] = np.nan
    return b


def _gcv_moments_of_one_row() -> Any:
    # training moments by subtraction (total minus a fold) can leave a single row
    three = X[:3]
    return fit_ridge_gcv_moments(Moments.of(three, Y[:3]) - Moments.of(three[1:], Y[1:3]))


def _hub_compare_row_mismatch() -> Any:
    hub = fit_hub({"a": X, "b": Y})
    return hub.compare("a", X[:5], "b", Y[:4])


CASES: list[tuple[str, Callable[[Path], Any], type[FacebridgeError], str]] = [
    # ------------------------------------------------------------------ store/_chunks.py
    (
        "chunks.py:78 manifest missing",
        lambda tmp: _chunks.read_json(tmp / "m" / "manifest.json"),
        StoreError,
        r"manifest missing: .*manifest\.json; the directory is not a store entry",
    ),
    # ------------------------------------------------------------------ maps/linear.py
    (
        "linear.py:37 ragged rows",
        lambda tmp: fit_ridge([[1.0, 2.0], [3.0]], np.ones((2, 2))),
        InvalidInputError,
        r"X must be a 2-D numeric array, got an object numpy cannot convert",
    ),
    # ------------------------------------------------------------------ maps/cv.py
    (
        "cv.py:138 not 2-D",
        lambda tmp: fit_ridge_cv(X[:, 0], Y),
        DimensionError,
        r"expected X \(n, d_a\) and Y \(n, d_b\), got shapes \(10,\) and \(10, 3\)",
    ),
    (
        "cv.py:202 moments of one row",
        lambda tmp: _gcv_moments_of_one_row(),
        InvalidInputError,
        r"need at least 2 corresponding rows to cross-validate, got 1",
    ),
    (
        # two rows, no intercept, huge scale: every eigenvalue ratio rounds to 1, df = n
        "cv.py:263 GCV undefined",
        lambda tmp: fit_ridge_cv(1e10 * X[:2], Y[:2], alphas=[1e-3], fit_intercept=False),
        InvalidInputError,
        r"GCV is undefined: 2 rows are too few for 4 source dimensions at every alpha",
    ),
    (
        # two rows with an intercept: each row is fitted exactly (leverage 1) at a tiny alpha
        "cv.py:340 LOO undefined",
        lambda tmp: fit_ridge_cv(1e6 * X[:2], Y[:2], alphas=[1e-3], method="loo"),
        InvalidInputError,
        r"leave-one-out is undefined: some row is fitted exactly at every alpha \(2 rows\)",
    ),
    # ------------------------------------------------------------------ maps/shared.py
    (
        "shared.py:52 not 2-D",
        lambda tmp: fit_shared_space(X[:, 0], Y),
        DimensionError,
        r"X must be 2-D \(n, d\), got shape \(10,\)",
    ),
    (
        "shared.py:56 one row",
        lambda tmp: fit_shared_space(X[:1], Y[:1]),
        InvalidInputError,
        r"X needs at least 2 rows to fit, got 1",
    ),
    (
        "shared.py:58 NaN",
        lambda tmp: fit_shared_space(X, _nan(Y)),
        InvalidInputError,
        r"Y holds NaN or infinite values; drop those rows first",
    ),
    (
        "shared.py:78 hub method",
        lambda tmp: fit_hub({"a": X, "b": Y}, method="cca"),
        InvalidInputError,
        r"method must be one of \('maxvar', 'gpa'\), got 'cca'",
    ),
    (
        "shared.py:188 row mismatch",
        lambda tmp: fit_shared_space(X, Y[:-1]),
        DimensionError,
        r"X has 10 rows but Y has 9; pass corresponding rows",
    ),
    (
        "shared.py:300 compare row mismatch",
        lambda tmp: _hub_compare_row_mismatch(),
        DimensionError,
        r"xa has 5 rows but xb has 4",
    ),
    # ------------------------------------------------------------------ metrics/curves.py
    (
        "curves.py:144 far not a number",
        lambda tmp: tar_at_far(S4, G4, "high"),
        InvalidInputError,
        r"far must be a number in \[0, 1\], got 'high'",
    ),
    # ------------------------------------------------------------------ metrics/identification.py
    (
        "identification.py:132 normalize 1-D",
        lambda tmp: normalize_rows(np.ones(3)),
        DimensionError,
        r"expected a 2-D array \(n, dim\), got shape \(3,\)",
    ),
    (
        "identification.py:243 scores 1-D",
        lambda tmp: rank_scores(np.zeros(3), [0, 1, 2], [0]),
        DimensionError,
        r"scores must be 2-D \(n_probes, n_gallery\), got shape \(3,\)",
    ),
    (
        "identification.py:311 probes 1-D",
        lambda tmp: search(np.ones(4), np.ones((2, 4)), [0], [0, 1]),
        DimensionError,
        r"probes and gallery must be 2-D \(n, dim\), got \(4,\) and \(2, 4\)",
    ),
    (
        "identification.py:321 chunk_bytes",
        lambda tmp: search(np.ones((2, 4)), np.ones((2, 4)), [0, 1], [0, 1], chunk_bytes=0),
        InvalidInputError,
        r"chunk_bytes must be positive, got 0",
    ),
    (
        "identification.py:383 max_rank",
        lambda tmp: cmc_curve(np.array([1, 2]), 0),
        InvalidInputError,
        r"max_rank must be >= 1, got 0",
    ),
    (
        "identification.py:386 cmc without mated probe",
        lambda tmp: cmc_curve(np.array([0, 0]), 3),
        InvalidInputError,
        r"no mated probe \(no probe identity is enrolled\)",
    ),
    (
        "identification.py:448 dir rank",
        lambda tmp: dir_at_fpir(rank_scores(np.eye(2), [0, 1], [0, 1]), 0.1, rank=0),
        InvalidInputError,
        r"rank must be >= 1, got 0",
    ),
    (
        "identification.py:451 dir without mated probe",
        lambda tmp: dir_at_fpir(rank_scores(np.eye(2), ["c", "d"], ["a", "b"]), 0.1),
        InvalidInputError,
        r"no mated probe \(no probe identity is enrolled\)",
    ),
    # ------------------------------------------------------------------ metrics/linkability.py
    (
        "linkability.py:203 bandwidth",
        lambda tmp: score_densities(S4, S4 + 1.0, method="kde", bandwidth=0.0),
        InvalidInputError,
        r"bandwidth must be positive, got 0\.0",
    ),
    # ------------------------------------------------------------------ metrics/similarity.py
    (
        "similarity.py:57 one row",
        lambda tmp: linear_cka(X[:1], Y[:1]),
        InvalidInputError,
        r"need at least 2 corresponding rows, got 1",
    ),
    (
        "similarity.py:61 zero width",
        lambda tmp: linear_cka(np.ones((10, 0)), Y),
        DimensionError,
        r"zero-width input: shapes \(10, 0\) and \(10, 3\)",
    ),
    (
        "similarity.py:105 CCA of a constant",
        lambda tmp: canonical_correlations(X, np.ones_like(Y)),
        InvalidInputError,
        r"an input is constant \(zero variance\); CCA is undefined for it",
    ),
    (
        "similarity.py:207 SVCCA of a constant",
        lambda tmp: svcca(np.ones_like(X), Y),
        InvalidInputError,
        r"X or Y is constant \(zero variance\); SVCCA is undefined for it",
    ),
    # ------------------------------------------------------------------ metrics/verification.py
    (
        "verification.py:37 string scores",
        lambda tmp: best_threshold(["a", "b"], [True, False]),
        InvalidInputError,
        r"scores must be real numbers, got dtype <U1",
    ),
    (
        "verification.py:39 2-D scores",
        lambda tmp: best_threshold(np.zeros((2, 2)), [True, False]),
        DimensionError,
        r"scores must be 1-D \(n_pairs,\), got shape \(2, 2\); flatten it",
    ),
    (
        "verification.py:81 threshold not a number",
        lambda tmp: accuracy_at(S4, G4, "high"),
        InvalidInputError,
        r"threshold must be a number, got 'high'",
    ),
    (
        "verification.py:95 float folds",
        lambda tmp: kfold_accuracy(S4, G4, F4.astype(float)),
        InvalidInputError,
        r"folds must be integer fold ids 0\.\.K-1, got dtype float64",
    ),
    (
        "verification.py:117 valid not bool",
        lambda tmp: kfold_accuracy(S4, G4, F4, valid=np.ones(4)),
        InvalidInputError,
        r"valid must be a bool mask, got dtype float64",
    ),
    (
        "verification.py:356 kfold 2-D scores",
        lambda tmp: kfold_accuracy(S4[:, None], G4, F4),
        DimensionError,
        r"scores must be 1-D \(n_pairs,\), got shape \(4, 1\)$",
    ),
    (
        "verification.py:424 batch string scores",
        lambda tmp: kfold_accuracy_batch(np.array([["a", "b", "c", "d"]]), G4, F4),
        InvalidInputError,
        r"scores must be real numbers, got dtype <U1",
    ),
    (
        "verification.py:427 batch empty",
        lambda tmp: kfold_accuracy_batch(np.zeros((0, 4)), G4, F4),
        InvalidInputError,
        r"scores is empty \(shape \(0, 4\)\); pass at least one row and pair",
    ),
]


@pytest.mark.parametrize(
    ("call", "exc", "match"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_error_path(
    tmp_path: Path, call: Callable[[Path], Any], exc: type[FacebridgeError], match: str
) -> None:
    with pytest.raises(exc, match=match):
        call(tmp_path)


# ------------------------------------------------- inputs numpy would reject with its own errors


def _lfw_pairs_file(tmp: Path, first_pair: str) -> Path:
    p = tmp / "pairs.txt"
    p.write_text(f"1\t1\n{first_pair}\nB\t1\tC\t2\n", encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda tmp: kfold_accuracy(np.zeros(0), np.zeros(0, bool), np.zeros(0, int)),
         InvalidInputError, r"scores is empty"),
        (lambda tmp: kfold_accuracy(np.array(["0.1", "0.2", "0.3", "0.4"]), G4, F4),
         InvalidInputError, r"scores must be real numbers, got dtype <U3"),
        (lambda tmp: canonical_correlations(np.ones((10, 3)), Y, reg=0.1),
         InvalidInputError, r"X is constant"),
        (lambda tmp: canonical_correlations(X, np.ones((10, 2)), reg=0.1),
         InvalidInputError, r"Y is constant"),
    ],
    ids=["kfold empty", "kfold numeric strings", "cca constant X", "cca constant Y"],
)  # fmt: skip
def test_error_path_not_a_numpy_error(
    tmp_path: Path, call: Callable[[Path], Any], exc: type[FacebridgeError], match: str
) -> None:
    with pytest.raises(exc, match=match):
        call(tmp_path)


def test_unicode_digits_in_protocol_files_name_file_and_line(tmp_path: Path) -> None:
    from facebridge.errors import ProtocolError
    from facebridge.protocols import load_csv_pairs, load_lfw_pairs, load_ytf_splits

    with pytest.raises(ProtocolError, match=r"pairs.txt:2: expected image number .* got '²'"):
        load_lfw_pairs(_lfw_pairs_file(tmp_path, "A\t\u00b2\t3"))
    csv = tmp_path / "p.csv"
    csv.write_text("a,b,1,\u00b2\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"p.csv:1: expected fold as a non-negative integer"):
        load_csv_pairs(csv)
    ytf = tmp_path / "splits.txt"
    ytf.write_text("1x, 1, A/1, A/2, 1\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"splits.txt:1: expected split number"):
        load_ytf_splits(ytf)


def test_csv_first_row_header_or_bad_data(tmp_path: Path) -> None:
    from facebridge.errors import ProtocolError
    from facebridge.protocols import load_csv_pairs

    bad = tmp_path / "bad.csv"
    bad.write_text("a.jpg,b.jpg,ture\na.jpg,c.jpg,0\n", encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"bad.csv:1: "):
        load_csv_pairs(bad)
    for head in ("left,right,genuine", "img1,img2,match"):
        ok = tmp_path / "ok.csv"
        ok.write_text(f"{head}\nx/a.jpg,x/b.jpg,1\nx/a.jpg,y/c.jpg,0\n", encoding="utf-8")
        assert len(load_csv_pairs(ok).pairs) == 2
