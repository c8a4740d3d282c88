"""The template-privacy audit, end to end: store -> audit -> ``audit.json``, ``privacy.md``, figures."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facebridge.report.base import Section

__all__ = ["AuditRun", "audit_section", "run_audit", "write_audit"]


@dataclass(frozen=True)
class AuditRun:
    """The audited pairs and the ``audit.json`` payload."""

    results: list[Any]
    payload: dict[str, Any]


def run_audit(
    store: Any,
    pairs_of_models: Sequence[tuple[str, str]] | None,
    models: Sequence[str] | None = None,
    *,
    pairs: int = 400,
    jobs: int = 1,
    threads: int | None = 1,
    few_pairs: Sequence[int] = (),
    **options: Any,
) -> AuditRun:
    """Audit the directed pairs ``pairs_of_models`` (``None``: every directed pair of ``models``).

    Parameters
    ----------
    store : EmbeddingStore
    pairs_of_models : sequence of (source, target), or None
        The pairs to audit one by one; ``None`` runs
        :func:`facebridge.experiments.privacy.audit_all` over ``models``.
    models : sequence of str, optional
        For ``pairs_of_models=None`` (default: every model of the store).
    pairs : int
        The headline number of paired images.
    jobs : int
        Pairs audited in parallel threads.
    threads : int or None
        BLAS threads per job.
    few_pairs : sequence of int
        Numbers of paired images for the "few pairs" subsection (rank-1 and ``D_sys`` with and
        without unpaired photos, :func:`facebridge.experiments.fewpairs.audit_few_pairs`);
        empty: no subsection.
    **options
        Passed on to the audit (``p_values``, ``n_draws``, ``map``, ``alpha``, ``seed``,
        ``fpir``, ``method``).

    Returns
    -------
    AuditRun

    Examples
    --------
    >>> from facebridge.app.inputs import open_store
    >>> run = run_audit(open_store(None), [("sface", "faceres")], n_draws=1)  # doctest: +SKIP
    >>> run.payload["summary"][0]  # doctest: +SKIP
    'sface -> faceres: with 400 paired images, ...'
    """
    from facebridge.experiments.privacy import audit, audit_all

    t0 = time.perf_counter()
    if pairs_of_models is None:
        results = audit_all(
            store, models, pairs=pairs, n_jobs=jobs, blas_threads=threads, **options
        )
    else:
        results = [
            audit(store, a, b, pairs=pairs, blas_threads=threads, **options)
            for a, b in pairs_of_models
        ]
    if few_pairs:
        from facebridge.experiments.fewpairs import audit_few_pairs

        vectors = {m: store.load(m) for r in results for m in (r.source, r.target)}
        few = audit_few_pairs(
            vectors, [(r.source, r.target) for r in results], few_pairs, seed=options.get("seed", 0)
        )
    elapsed = time.perf_counter() - t0
    payload = {
        "store": str(getattr(store, "root", store)),
        "settings": {**options, "pairs": pairs},
        "elapsed_s": elapsed,
        "summary": [r.summary for r in results],
        "results": [r.to_dict() for r in results],
    }
    if few_pairs:
        payload["few_pairs"] = few
    return AuditRun(list(results), payload)


def write_audit(out: str | Path, run: AuditRun) -> Path:
    """Write ``audit.json``, ``privacy.md`` and the figures into ``out`` (created).

    Parameters
    ----------
    out : str or Path
        The output folder.
    run : AuditRun
        From :func:`run_audit`.

    Returns
    -------
    Path
        ``out``.

    Examples
    --------
    >>> from facebridge.app.inputs import open_store
    >>> write_audit("audit", run_audit(open_store(None), [("sface", "faceres")]))  # doctest: +SKIP
    PosixPath('audit')
    """
    from facebridge.report.privacy import linkability_figure, privacy_section, rank1_figure
    from facebridge.report.write import atomic_write

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "audit.json", json.dumps(run.payload, indent=1))
    figdir = folder / "figures"
    figdir.mkdir(exist_ok=True)
    for r in run.results:
        stem = f"{r.source}__{r.target}"
        atomic_write(figdir / f"rank1_vs_p_{stem}.png", rank1_figure(r))
        atomic_write(figdir / f"linkability_{stem}.png", linkability_figure(r))
    section = privacy_section(run.results)
    for name, data in section.figures.items():
        atomic_write(folder / name, data)
    text = f"## {section.title}\n\n{section.markdown}\n"
    if "few_pairs" in run.payload:
        from facebridge.report.fewpairs import audit_fewpairs_section

        text += "\n" + audit_fewpairs_section(run.payload["few_pairs"])
    atomic_write(folder / "privacy.md", text)
    return folder


def audit_section(
    store: Any,
    models: Sequence[str] | None = None,
    pairs: int = 400,
    *,
    figures: bool = True,
    **options: Any,
) -> Section:
    """The privacy section of the main report: every directed pair of ``models`` audited with
    ``pairs`` paired images.

    ``options`` go to :func:`facebridge.experiments.privacy.audit_all` (``n_draws``,
    ``p_values``, ``map``, ``seed``...); ``figures`` to
    :func:`facebridge.report.privacy.privacy_section`.

    Parameters
    ----------
    store : EmbeddingStore
    models : sequence of str, optional
        Default: every model of the store.
    pairs : int
        Paired images of the headline attack.
    figures : bool
        Render the section's figures.
    **options
        Passed on to the audit.

    Returns
    -------
    Section

    Examples
    --------
    >>> from facebridge.app.inputs import open_store
    >>> audit_section(open_store(None), ["sface", "faceres"]).title  # doctest: +SKIP
    'Privacy: re-identification and linkability of leaked templates'
    """
    from facebridge.experiments.privacy import audit_all
    from facebridge.report.privacy import privacy_section

    return privacy_section(audit_all(store, models, pairs=pairs, **options), figures=figures)
