"""The cross-model analysis of a store, end to end: store -> protocol -> experiments -> report.

:func:`analyse` runs :func:`facebridge.experiments.run_analysis` on the pairs of a protocol and
returns an :class:`~facebridge.contracts.AnalysisResult`; :func:`evaluate` adds the optional
sections (recipe comparison, privacy audit) and writes the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facebridge.app.context import context_from_store
from facebridge.app.inputs import resolve_models
from facebridge.app.missing import DEFAULT_ALLOW_MISSING, MissingPairs, check_missing, missing_pairs
from facebridge.app.progress import TqdmProgress
from facebridge.contracts import AnalysisResult, AnalysisSettings
from facebridge.errors import InvalidInputError
from facebridge.report.base import ReportContext, ReportPaths, Section
from facebridge.vocabulary import Progress, blas_threads

__all__ = ["Evaluation", "analyse", "blas_threads", "evaluate"]


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` produced: the numbers, the report's files and its context."""

    result: AnalysisResult
    paths: ReportPaths
    context: ReportContext
    missing: MissingPairs


def analyse(
    store: Any,
    protocol: Any,
    models: Sequence[str] | None = None,
    settings: AnalysisSettings | None = None,
    *,
    progress: Progress | None = None,
    allow_missing: float = DEFAULT_ALLOW_MISSING,
) -> tuple[Any, AnalysisResult, MissingPairs]:
    """Run the cross-model analysis of ``models`` of ``store`` on ``protocol``.

    Parameters
    ----------
    store : EmbeddingStore
    protocol : PairProtocol
    models : sequence of str, optional
        Default: every model of the store.
    settings : AnalysisSettings, optional
        Default: ``AnalysisSettings()`` (the paper's full run).
    progress : Progress, optional
    allow_missing : float
        The largest fraction of pairs that may lack an embedding (checked before the analysis).

    Returns
    -------
    (PairData, AnalysisResult, MissingPairs)
        The resolved pairs, the numbers (their ``settings`` hold the run's settings and
        ``"quick"``) and the missing pairs by cause.

    Raises
    ------
    InvalidInputError
        No pair of the protocol has both items embedded by every model, or more than
        ``allow_missing`` of them lack one.

    Examples
    --------
    >>> from facebridge.app.inputs import load_protocol, open_store
    >>> from facebridge.contracts import AnalysisSettings
    >>> fast = AnalysisSettings(pairs=False, roc_curves=False)
    >>> store, lfw = open_store(None), load_protocol(None, None)
    >>> data, res, missing = analyse(store, lfw, ["sface", "dlib-resnet"], fast)  # doctest: +SKIP
    >>> round(res.native["sface"]["accuracy"], 3)  # doctest: +SKIP
    0.994
    """
    from facebridge.experiments import pair_data, run_analysis

    st = settings if settings is not None else AnalysisSettings()
    _check_folds(protocol)
    chosen = resolve_models(store, models)
    data = pair_data(store, protocol, chosen)
    if not data.valid.any():
        raise InvalidInputError(
            f"none of the {data.n_pairs} pairs of {protocol.name!r} has both items embedded by "
            f"every model in {getattr(store, 'root', 'the store')}; pass the --pairs / --protocol "
            "the store was embedded for"
        )
    missing = missing_pairs(store, data)
    check_missing(missing, allow_missing)
    raw = run_analysis(data, progress=progress, **st.analysis_kwargs())
    result = AnalysisResult.from_dict(raw)
    result = result.with_settings({**st.record(), **result.settings, "quick": st.quick})
    return data, result, missing


def _check_folds(protocol: Any) -> None:
    """The analysis fits on training folds and tests on the held-out one: it needs two folds."""
    k = int(getattr(protocol, "n_folds", 2))
    if k >= 2:
        return
    name = str(getattr(protocol, "name", "the protocol"))
    fix = (
        "give the CSV a fold column with folds 0..K-1 (K >= 2), or leave the fold column out: "
        "the pairs are then dealt into up to 10 folds in file order"
        if name.startswith("csv:")
        else "pass a protocol with folds (--protocol lfw, the 10-fold View 2 pairs.txt)"
    )
    raise InvalidInputError(
        f"{name} has {k} fold; the analysis fits maps on training folds and tests on the "
        f"held-out fold, so it needs at least 2: {fix}"
    )


def _extra_sections(
    store: Any, data: Any, settings: AnalysisSettings, *, privacy: bool, compare_maps: bool
) -> list[Section]:
    sections: list[Section] = []
    if compare_maps:
        from facebridge.experiments import compare
        from facebridge.report import compare as report_compare

        res = compare.compare_maps(data, compare.CompareSettings(sweep=False, seed=settings.seed))
        sections.append(report_compare.compare_section(res))
    if privacy:
        from facebridge.app import audit

        sections.append(audit.audit_section(store, list(data.models)))
    return sections


def evaluate(
    store: Any,
    protocol: Any,
    out_dir: str | Path,
    models: Sequence[str] | None = None,
    *,
    settings: AnalysisSettings | None = None,
    progress: bool = True,
    command: str | None = None,
    images: str | None = None,
    privacy: bool = False,
    compare_maps: bool = False,
    threads: int | None = None,
    allow_missing: float = DEFAULT_ALLOW_MISSING,
    notes: Sequence[str] = (),
) -> Evaluation:
    """Run the analysis, the optional sections, and write the report into ``out_dir``.

    Parameters
    ----------
    store, protocol, models, settings
        As for :func:`analyse`.
    out_dir : str or Path
        The report folder (``results.json``, ``report.md``, ``report.html``, figures).
    progress : bool
        Draw a progress bar on stderr.
    command, images, notes
        What the report states about the run.
    privacy : bool
        Add the privacy audit's section (every directed pair, 400 paired images).
    compare_maps : bool
        Add the recipe comparison's section (no pairs-needed sweep).
    threads : int, optional
        BLAS threads (see :func:`blas_threads`).
    allow_missing : float
        As for :func:`analyse`.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> from facebridge.app.inputs import load_protocol, open_store
    >>> ev = evaluate(open_store(None), load_protocol(None, None), "out")  # doctest: +SKIP
    >>> ev.paths.html  # doctest: +SKIP
    PosixPath('out/report.html')
    """
    from facebridge.report.write import write_report

    st = settings if settings is not None else AnalysisSettings()
    bar = TqdmProgress("analysis", enabled=progress)
    with blas_threads(threads):
        try:
            data, result, missing = analyse(
                store,
                protocol,
                models,
                st,
                progress=bar if progress else None,
                allow_missing=allow_missing,
            )
        finally:
            bar.close()
        extras = _extra_sections(store, data, st, privacy=privacy, compare_maps=compare_maps)
    context = context_from_store(
        store,
        protocol,
        list(data.models),
        data,
        quick=st.quick,
        command=command,
        images=images,
        notes=[
            *notes,
            *([f"Missing pairs by cause: {missing.line()}"] if missing.n_missing else []),
        ],
    )
    paths = write_report(result, out_dir, sections_extra=extras, context=context)
    return Evaluation(result, paths, context, missing)
