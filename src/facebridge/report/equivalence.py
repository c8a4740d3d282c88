"""The Markdown report of ``facebridge equivalence`` (the linear-equivalence test of a new model).

Renders the result it is given (:class:`facebridge.experiments.equivalence.EquivalenceResult`);
it runs nothing.
"""

from __future__ import annotations

from typing import Any

from facebridge.report.tables import markdown_table

__all__ = ["equivalence_markdown"]


def _opt(x: int | None) -> str:
    return "n/a" if x is None else str(x)


def equivalence_markdown(result: Any) -> str:
    """A Markdown report of an equivalence test: the summary lines and one table.

    Parameters
    ----------
    result : EquivalenceResult
        From :func:`facebridge.experiments.equivalence.equivalence`.

    Returns
    -------
    str

    Examples
    --------
    >>> from facebridge.experiments.equivalence import equivalence
    >>> from facebridge.testing import make_synthetic_pair_data
    >>> md = equivalence_markdown(equivalence(make_synthetic_pair_data({"a": 8, "b": 6}), "a"))
    >>> md.splitlines()[0]
    '# Linear equivalence of `a`'
    """
    head = [
        "pair",
        "new->other acc (drop)",
        "other->new acc (drop)",
        "pairs needed (fwd/back)",
        "rank needed (fwd/back)",
        "CKA",
        "SVCCA",
        "Procrustes",
    ]
    rows = [
        [
            f"{p.new} / {p.other}",
            f"{100 * p.forward.accuracy:.2f}% ({p.forward.drop:+.2f})",
            f"{100 * p.backward.accuracy:.2f}% ({p.backward.drop:+.2f})",
            f"{_opt(p.forward.pairs_needed)} / {_opt(p.backward.pairs_needed)}",
            f"{_opt(p.forward.rank_needed)} / {_opt(p.backward.rank_needed)}",
            f"{p.cka:.3f}",
            f"{p.svcca:.3f}",
            f"{p.procrustes:.3f}",
        ]
        for p in result.pairs
    ]
    native = ", ".join(f"`{m}` {100 * a:.2f}%" for m, a in result.native.items())
    return (
        f"# Linear equivalence of `{result.model}`\n\n"
        f"Recipe: `{result.recipe}`; protocol `{result.protocol}`: {result.n_pairs} pairs in "
        f"{result.n_folds} folds ({result.n_invalid} invalid, counted as errors). "
        f"Native accuracy: {native}.\n\n"
        "Drops are against the target's native accuracy (points); pairs / rank needed: the "
        "fewest correspondences / the smallest rank within 1 point of the full-data, "
        "full-rank map.\n\n"
        + "\n".join(f"- {line}" for line in result.lines())
        + "\n\n"
        + markdown_table(head, rows)
        + "\n"
    )
