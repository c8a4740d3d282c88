"""The words every layer of facebridge shares, defined once.

A directed pair of models, the "within 1 point" rule, the threshold of a strong model, the
progress callback and the "unknown name" error are used from the experiments up to the CLI;
each has exactly one definition here.  This module imports nothing from facebridge but
:mod:`facebridge.errors`.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, Protocol

from facebridge.errors import InvalidInputError

__all__ = [
    "ONE_POINT",
    "PRECISIONS",
    "STRONG_NATIVE",
    "DirectedPair",
    "Progress",
    "blas_threads",
    "directed_pairs",
    "map_key",
    "unknown",
    "within_one_point",
]

#: Accuracy (a fraction) that a map may lose and still count as "within 1 point".
ONE_POINT = 0.01

#: Native LFW accuracy (a fraction) from which a model counts as strong (the recipes tables,
#: the migration goals and the few-pairs goals are stated over the pairs of strong models).
STRONG_NATIVE = 0.985

#: Floating-point precisions of the pair scores (``compare-maps --precision``).
PRECISIONS: tuple[str, ...] = ("float32", "float64")

#: Slack for comparisons of accuracies computed in floating point.
_TOL = 1e-9


class DirectedPair(NamedTuple):
    """The directed map from ``source``'s embedding space into ``target``'s.

    Examples
    --------
    >>> p = DirectedPair("sface", "dlib-resnet")
    >>> p.key
    'sface->dlib-resnet'
    >>> DirectedPair.parse("sface->dlib-resnet") == p
    True
    """

    source: str
    target: str

    @property
    def key(self) -> str:
        """``"A->B"``: the pair as one string (the key of ``results.json``'s maps)."""
        return map_key(self.source, self.target)

    @classmethod
    def parse(cls, key: str) -> DirectedPair:
        """The pair named by ``"A->B"``.

        Raises
        ------
        InvalidInputError
            If ``key`` is not two non-empty names joined by ``->``.
        """
        source, sep, target = str(key).partition("->")
        if not sep or not source or not target or "->" in target:
            raise InvalidInputError(
                f"a directed pair is written SOURCE->TARGET (e.g. sface->dlib-resnet), got {key!r}"
            )
        return cls(source, target)


def map_key(source: str, target: str) -> str:
    """``"A->B"``: the key of the directed map from ``source`` to ``target``."""
    return f"{source}->{target}"


def directed_pairs(models: Sequence[str]) -> list[DirectedPair]:
    """Every ordered pair of distinct models, rows ("From") major.

    Examples
    --------
    >>> [p.key for p in directed_pairs(["a", "b", "c"])]
    ['a->b', 'a->c', 'b->a', 'b->c', 'c->a', 'c->b']
    """
    return [DirectedPair(a, b) for a in models for b in models if a != b]


def within_one_point(accuracy: float, reference: float, tol: float = _TOL) -> bool:
    """Whether ``accuracy`` loses at most :data:`ONE_POINT` against ``reference`` (fractions).

    An accuracy exactly one point below counts as within (up to ``tol`` of rounding).

    Examples
    --------
    >>> within_one_point(0.985, 0.995)
    True
    >>> within_one_point(0.984, 0.995)
    False
    """
    return reference - accuracy <= ONE_POINT + tol


class Progress(Protocol):
    """The progress callback every long-running function accepts as ``progress=``.

    It is called as ``progress(stage, done, total)``: ``stage`` names the work (``"matrix"``,
    ``"pairs sweep"``, ...), ``done`` of ``total`` units of it are finished.
    """

    def __call__(self, stage: str, done: int, total: int, /) -> None: ...


def unknown(name: object, choices: Iterable[str], what: str) -> InvalidInputError:
    """The one-line error for a ``name`` that is not one of ``choices``, with close matches.

    Returned, not raised, so that the caller writes ``raise unknown(...)``.

    Examples
    --------
    >>> str(unknown("ridg", ["ridge", "lstsq"], "map kind"))
    "unknown map kind 'ridg'; did you mean 'ridge'? (choices: ridge, lstsq)"
    """
    options = [str(c) for c in choices]
    close = difflib.get_close_matches(str(name), options, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return InvalidInputError(f"unknown {what} {name!r}{hint} (choices: {', '.join(options)})")


@contextlib.contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """Limit the BLAS libraries to ``threads`` threads inside the block (``None``: no limit).

    This is the one meaning of ``--threads`` in the analysis commands.

    Parameters
    ----------
    threads : int or None
        BLAS threads; ``None`` leaves the libraries' own setting.

    Returns
    -------
    context manager

    Raises
    ------
    InvalidInputError
        ``threads`` is below 1.

    Examples
    --------
    >>> with blas_threads(1):
    ...     pass
    """
    if threads is None:
        yield
        return
    if isinstance(threads, bool) or int(threads) < 1:
        raise InvalidInputError(f"--threads must be at least 1, got {threads}")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(threads)):
        yield
