"""Pairs without an embedding: how many, and why, before any analysis runs.

A pair is *missing* when one of its two items has no embedding in one of the compared models.
It never feeds a fit and counts as an error in its fold (the analysis' missing-data policy), so
many missing pairs pull every accuracy towards zero.  :func:`missing_pairs` counts them by the
cause the store's classifier (:func:`facebridge.store.item_causes`, the per-item form of
:func:`facebridge.store.missing_pairs`) gives their items:

* ``unknown``: an id the store holds no record of in any model or detector (the pairs file
  names an image the store never saw: a wrong ``--pairs`` or a wrong image root);
* ``failed``: an item a model tried and failed on (the reason is in its manifest);
* ``never_embedded``: an item the store knows (another model or the detections hold it) but a
  compared model has no record of (an interrupted run, or a deleted chunk).

A pair counts once, under the first cause in that order among its items and models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from facebridge.errors import InvalidInputError

__all__ = ["DEFAULT_ALLOW_MISSING", "MissingPairs", "check_missing", "missing_pairs"]

#: The fraction of missing pairs a run accepts unless ``--allow-missing`` says otherwise.
DEFAULT_ALLOW_MISSING = 0.01


@dataclass(frozen=True)
class MissingPairs:
    """Missing pairs of a protocol by cause (each pair counted once, under its first cause in
    the order unknown, failed, never embedded), with a few example item ids per cause."""

    n_pairs: int
    unknown: int = 0
    failed: int = 0
    never_embedded: int = 0
    examples: Mapping[str, Sequence[str]] | None = None

    @property
    def n_missing(self) -> int:
        """Pairs with an item lacking an embedding."""
        return self.unknown + self.failed + self.never_embedded

    @property
    def fraction(self) -> float:
        """``n_missing / n_pairs``."""
        return self.n_missing / self.n_pairs if self.n_pairs else 0.0

    def line(self) -> str:
        """One line for the terminal and the report: the count, then each cause that occurs.

        Examples
        --------
        >>> MissingPairs(200, unknown=2, failed=1).line()
        '3 of 200 pairs (1.5%) lack an embedding: 2 name an id the store does not hold, 1 name an image that failed to embed; they count as errors'
        """
        words = (
            (self.unknown, "name an id the store does not hold"),
            (self.failed, "name an image that failed to embed"),
            (self.never_embedded, "name an image some compared model never embedded"),
        )
        causes = ", ".join(f"{k} {w}" for k, w in words if k)
        return (
            f"{self.n_missing} of {self.n_pairs} pairs ({100 * self.fraction:.1f}%) lack an "
            f"embedding: {causes}; they count as errors"
        )


def missing_pairs(store: Any, data: Any) -> MissingPairs:
    """Count the missing pairs of ``data`` (a :class:`~facebridge.experiments.PairData` of
    ``store``) by cause.

    Parameters
    ----------
    store : EmbeddingStore
    data : PairData

    Returns
    -------
    MissingPairs

    Examples
    --------
    >>> from facebridge.app.inputs import load_protocol, open_store
    >>> from facebridge.experiments import pair_data
    >>> store = open_store(None)
    >>> data = pair_data(store, load_protocol(None, None), ["sface", "faceres"])
    >>> missing_pairs(store, data).n_missing
    0
    """
    import numpy as np

    from facebridge.store import MISSING_CAUSES, item_causes

    bad = np.flatnonzero(~np.asarray(data.valid, dtype=bool))
    n = int(data.n_pairs)
    if bad.size == 0:
        return MissingPairs(n)
    sides = [(data.left_ids[i], data.right_ids[i]) for i in bad]
    causes = item_causes(store, {x for pair in sides for x in pair}, list(data.models))
    counts = {"unknown": 0, "failed": 0, "never_embedded": 0}
    examples: dict[str, list[str]] = {k: [] for k in counts}
    for items in sides:
        found = [(causes[m][x], x) for x in items for m in data.models if x in causes[m]]
        if found:
            c, item = min(found, key=lambda t: MISSING_CAUSES.index(t[0]))
        else:  # no record says why: a vector the analysis could not use
            c, item = "never_embedded", items[0]
        cause = _FIELD[c]
        counts[cause] += 1
        if len(examples[cause]) < 3 and item not in examples[cause]:
            examples[cause].append(item)
    return MissingPairs(n, examples={k: v for k, v in examples.items() if v}, **counts)


#: The store's cause names -> the fields of :class:`MissingPairs`.
_FIELD = {"unknown_id": "unknown", "failed": "failed", "never_embedded": "never_embedded"}


def check_missing(missing: MissingPairs, allow: float = DEFAULT_ALLOW_MISSING) -> None:
    """Refuse a run whose missing pairs exceed the fraction ``allow``.

    Parameters
    ----------
    missing : MissingPairs
        From :func:`missing_pairs`.
    allow : float
        The largest fraction accepted, in [0, 1].

    Returns
    -------
    None

    Raises
    ------
    InvalidInputError
        Above the threshold: the counts by cause, examples, and the fix.

    Examples
    --------
    >>> check_missing(MissingPairs(100, failed=1))
    >>> check_missing(MissingPairs(100, unknown=50))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    facebridge.errors.InvalidInputError: 50 of 100 pairs (50.0%) lack an embedding: ...
    """
    if not 0.0 <= allow <= 1.0:
        raise InvalidInputError(f"--allow-missing is a fraction in [0, 1], got {allow}")
    if missing.fraction <= allow:
        return
    shown = "; ".join(
        f"{cause.replace('_', ' ')} e.g. {', '.join(map(repr, ids))}"
        for cause, ids in (missing.examples or {}).items()
    )
    raise InvalidInputError(
        f"{missing.line()} ({shown}); above the {100 * allow:g}% allowed: pass the --pairs / "
        "--protocol the store was embedded for, embed the missing images (re-run `facebridge "
        "embed`), or accept them with --allow-missing FRACTION"
    )
