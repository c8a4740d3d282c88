"""Why pairs have no embeddings: never embedded, failed, or an id the image list does not have."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from facebridge.errors import InvalidInputError

__all__ = ["MISSING_CAUSES", "MissingPairs", "item_causes", "missing_pairs"]

#: Causes of a missing pair, in precedence order (a pair counts under its first matching cause).
MISSING_CAUSES = ("unknown_id", "failed", "never_embedded")

_WORDS = {
    "unknown_id": "unknown id (in neither the image list nor the store)",
    "failed": "failed to embed",
    "never_embedded": "never embedded",
}


@dataclass(frozen=True)
class MissingPairs:
    """Missing pairs of one model, counted by cause.

    Attributes
    ----------
    model : str
    n_pairs : int
        Pairs in the protocol.
    n_missing : int
        Pairs with at least one side without a vector for ``model``.
    counts : dict
        cause -> number of missing pairs, for each cause of :data:`MISSING_CAUSES` (a pair is
        counted once, under the first cause one of its sides has: ``unknown_id``, then
        ``failed``, then ``never_embedded``).
    examples : dict
        cause -> up to 5 item ids with that cause, in pair order.
    reasons : dict
        failure reason -> number of distinct failed items in missing pairs.
    """

    model: str
    n_pairs: int
    n_missing: int
    counts: dict[str, int]
    examples: dict[str, list[str]] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line, e.g. ``"sface: 3 of 4 pairs missing: 1 failed to embed, ..."``."""
        if not self.n_missing:
            return f"{self.model}: no pair missing of {self.n_pairs}"
        parts = [
            f"{self.counts[c]} {_WORDS[c]}"
            + (f" (e.g. {self.examples[c][0]})" if self.examples.get(c) else "")
            for c in MISSING_CAUSES
            if self.counts.get(c)
        ]
        return f"{self.model}: {self.n_missing} of {self.n_pairs} pairs missing: " + ", ".join(
            parts
        )


def _sides(pairs: Iterable[Any]) -> list[tuple[str, str]]:
    out = []
    for p in pairs:
        if hasattr(p, "left") and hasattr(p, "right"):
            out.append((str(p.left), str(p.right)))
        else:
            try:
                a, b = p
            except (TypeError, ValueError):
                raise InvalidInputError(
                    f"pairs must be Pair objects or (left, right) tuples, got {p!r}"
                ) from None
            out.append((str(a), str(b)))
    return out


def missing_pairs(
    store: Any,
    pairs: Iterable[Any],
    models: Sequence[str],
    images: Iterable[str] | None = None,
) -> dict[str, MissingPairs]:
    """Classify, per model, the pairs that cannot be scored because a side has no vector.

    Causes of an item without a vector: ``failed`` (its newest record for that model is a
    failure, reason kept), ``unknown_id`` (not in ``images`` at all: a typo, or a pairs file for
    another dataset), ``never_embedded`` (in ``images`` but with no record for that model:
    the extraction was not run on it, or was interrupted).

    Parameters
    ----------
    store : EmbeddingStore
    pairs : iterable of Pair or (left, right)
        E.g. a :class:`facebridge.protocols.PairProtocol`.
    models : sequence of str
    images : iterable of str, optional
        The ids of the image list (e.g. :func:`facebridge.extract.list_images`).  Default: every
        id the store has a record of, in any model or detector.

    Returns
    -------
    dict
        model -> :class:`MissingPairs`.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from facebridge.store import EmbeddingStore
    >>> store = EmbeddingStore.create(tempfile.mkdtemp())
    >>> with store.writer("m", dim=2, weights_sha256="0" * 64, detector="d") as w:
    ...     w.add(["a", "b"], np.eye(2))
    ...     w.add_failure("c", "no face")
    >>> missing_pairs(store, [("a", "b"), ("a", "c"), ("b", "x")], ["m"])["m"].counts
    {'unknown_id': 1, 'failed': 1, 'never_embedded': 0}
    """
    sides = _sides(pairs)
    records, known = _records_and_known(store, models, images)
    failures: dict[str, dict[str, str]] = {}
    for m in models:
        if any(r.failed for r in records[m].values()):
            failures[m] = store.load(m, on_non_unit="ignore").failures
    out: dict[str, MissingPairs] = {}
    for m in models:
        rec = records[m]
        fails = failures.get(m, {})

        def cause(i: str, rec: Any = rec) -> str | None:
            return _cause(rec, known, i)

        counts = dict.fromkeys(MISSING_CAUSES, 0)
        examples: dict[str, list[str]] = {c: [] for c in MISSING_CAUSES}
        reasons: Counter[str] = Counter()
        seen_failed: set[str] = set()
        n_missing = 0
        for a, b in sides:
            ca, cb = cause(a), cause(b)
            if ca is None and cb is None:
                continue
            n_missing += 1
            c = min((x for x in (ca, cb) if x), key=MISSING_CAUSES.index)
            counts[c] += 1
            for i, ci in ((a, ca), (b, cb)):
                if ci and i not in examples[ci] and len(examples[ci]) < 5:
                    examples[ci].append(i)
                if ci == "failed" and i not in seen_failed:
                    seen_failed.add(i)
                    reasons[fails.get(i, "unknown reason")] += 1
        out[m] = MissingPairs(
            m,
            len(sides),
            n_missing,
            counts,
            {c: v for c, v in examples.items() if v},
            dict(reasons.most_common()),
        )
    return out


def _records_and_known(
    store: Any, models: Sequence[str], images: Iterable[str] | None
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The newest record of every item per model, and the ids the image list (or, without one,
    the whole store: every model and detector) knows."""
    records = {m: store.records(m) for m in models}
    if images is not None:
        return records, set(images)
    known: set[str] = set()
    for r in records.values():
        known.update(r)
    for m in store.models():
        if m not in records:
            known.update(store.records(m))
    for det in store.detectors():
        known.update(store.detection_records(det))
    return records, known


def _cause(records: Any, known: set[str], item: str) -> str | None:
    """Why ``item`` has no vector in a model with these ``records`` (``None``: it has one)."""
    r = records.get(item)
    if r is not None and not r.failed:
        return None
    if r is None and item not in known:
        return "unknown_id"
    if r is not None:
        return "failed"
    return "never_embedded"


def item_causes(
    store: Any,
    items: Iterable[str],
    models: Sequence[str],
    images: Iterable[str] | None = None,
) -> dict[str, dict[str, str]]:
    """Per model, why each of ``items`` has no vector (items with a vector are left out).

    The causes and ``images`` are those of :func:`missing_pairs`: ``unknown_id``, ``failed``,
    ``never_embedded``.

    Parameters
    ----------
    store : EmbeddingStore
    items : iterable of str
    models : sequence of str
    images : iterable of str, optional
        The ids of the image list.  Default: every id the store has a record of.

    Returns
    -------
    dict
        model -> {item: cause}.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from facebridge.store import EmbeddingStore
    >>> store = EmbeddingStore.create(tempfile.mkdtemp())
    >>> with store.writer("m", dim=2, weights_sha256="0" * 64, detector="d") as w:
    ...     w.add(["a", "b"], np.eye(2))
    ...     w.add_failure("c", "no face")
    >>> item_causes(store, ["a", "c", "x"], ["m"])
    {'m': {'c': 'failed', 'x': 'unknown_id'}}
    """
    records, known = _records_and_known(store, models, images)
    ids = list(dict.fromkeys(items))
    out: dict[str, dict[str, str]] = {}
    for m in models:
        causes = {i: _cause(records[m], known, i) for i in ids}
        out[m] = {i: c for i, c in causes.items() if c is not None}
    return out
