"""The recipe comparison and the equivalence test, end to end: store -> protocol -> experiment ->
JSON and Markdown files."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facebridge.app.inputs import resolve_models
from facebridge.vocabulary import Progress

__all__ = ["RecipeRun", "run_compare_maps", "run_equivalence", "write_payload"]


@dataclass(frozen=True)
class RecipeRun:
    """An experiment's result, its JSON payload, and the files written."""

    result: Any
    payload: dict[str, Any]
    files: tuple[Path, ...]


def write_payload(out_dir: str | Path, stem: str, payload: Any, markdown: str) -> list[Path]:
    """Write ``stem.json`` (the payload) and ``stem.md`` into ``out_dir`` (created).

    Parameters
    ----------
    out_dir : str or Path
    stem : str
        The files' name without extension.
    payload : JSON-serialisable
    markdown : str

    Returns
    -------
    list of Path
        The two files.

    Examples
    --------
    >>> import tempfile
    >>> [p.name for p in write_payload(tempfile.mkdtemp(), "x", {"a": 1}, "# x\\n")]
    ['x.json', 'x.md']
    """
    from facebridge.report.write import atomic_write

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / f"{stem}.json", json.dumps(payload, indent=1) + "\n")
    atomic_write(out / f"{stem}.md", markdown)
    return [out / f"{stem}.json", out / f"{stem}.md"]


def run_compare_maps(
    store: Any,
    protocol: Any,
    models: Sequence[str] | None,
    settings: Any,
    out_dir: str | Path,
    *,
    threads: int | None = 1,
    progress: Progress | None = None,
    semi_supervised: int | None = None,
    device: str | None = None,
) -> RecipeRun:
    """Compare every (map, correspondence, score) recipe and write ``compare.json``,
    ``compare.md`` and the drops figure into ``out_dir``.

    Parameters
    ----------
    store : EmbeddingStore
    protocol : PairProtocol
    models : sequence of str, optional
        Default: every model of the store.
    settings : CompareSettings
    out_dir : str or Path
    threads : int or None
        BLAS threads.
    progress : Progress, optional
    semi_supervised : int, optional
        Add the semi-supervised recipe with this many matched pairs per fold plus unpaired
        photos of the training folds (:func:`facebridge.experiments.fewpairs.semi_supervised_recipe`;
        about a minute per directed pair on one core).
    device : str, optional
        Torch device of the heavy algebra (see :func:`~facebridge.experiments.compare.compare_maps`).

    Returns
    -------
    RecipeRun

    Examples
    --------
    >>> from facebridge.app.inputs import load_protocol, open_store
    >>> from facebridge.experiments.compare import CompareSettings
    >>> run = run_compare_maps(open_store(None), load_protocol(None, None), None,
    ...                        CompareSettings(sweep=False), "out")  # doctest: +SKIP
    >>> run.result.best  # doctest: +SKIP
    """
    from facebridge.experiments.compare import compare_maps
    from facebridge.experiments.core import pair_data
    from facebridge.report.compare import FIGURE_NAME, compare_figure, compare_markdown
    from facebridge.report.write import atomic_write

    chosen = resolve_models(store, models)
    data = pair_data(store, protocol, chosen)
    res = compare_maps(data, settings, progress=progress, blas_threads=threads, device=device)
    payload = res.to_dict()
    if semi_supervised is not None:
        from facebridge.experiments.fewpairs import semi_supervised_recipe

        payload["semi_supervised"] = semi_supervised_recipe(
            data,
            {m: store.load(m) for m in chosen},
            semi_supervised,
            high_native=settings.high_native,
            seed=settings.seed,
            progress=progress,
        )
    files = write_payload(
        out_dir,
        "compare",
        payload,
        "# Map / correspondence / score comparison\n\n" + compare_markdown(payload),
    )
    figure = Path(out_dir) / FIGURE_NAME
    atomic_write(figure, compare_figure(payload))
    return RecipeRun(res, payload, (*files, figure))


def run_equivalence(
    store: Any,
    protocol: Any,
    model: str,
    others: Sequence[str] | None,
    out_dir: str | Path,
    *,
    recipe: str = "ridge/matched-pairs/cosine",
    sweep: bool = True,
    seed: int = 0,
    threads: int | None = 1,
    progress: Progress | None = None,
) -> RecipeRun:
    """Test ``model`` for linear equivalence with ``others`` (default: every other model) and
    write ``equivalence-MODEL.json`` and ``.md`` into ``out_dir``.

    Parameters
    ----------
    store : EmbeddingStore
    protocol : PairProtocol
    model : str
        The model under test (already in the store).
    others : sequence of str, optional
        Default: every other model of the store.
    out_dir : str or Path
    recipe : str
        ``map/correspondence/score``.
    sweep : bool
        Run the pairs and rank sweeps.
    seed : int
    threads : int or None
        BLAS threads.
    progress : Progress, optional

    Returns
    -------
    RecipeRun

    Examples
    --------
    >>> from facebridge.app.inputs import load_protocol, open_store
    >>> run = run_equivalence(open_store(None), load_protocol(None, None), "sface", None,
    ...                       "out", sweep=False)  # doctest: +SKIP
    >>> run.result.lines()[0]  # doctest: +SKIP
    """
    from facebridge.experiments.compare import CompareSettings, Recipe
    from facebridge.experiments.core import pair_data
    from facebridge.experiments.equivalence import equivalence
    from facebridge.report.equivalence import equivalence_markdown

    parsed = Recipe.parse(recipe)
    models = resolve_models(store, [model, *others] if others else None)
    if model not in models:
        models = resolve_models(store, [model, *models])
    data = pair_data(store, protocol, models)
    res = equivalence(
        data,
        model,
        recipe=parsed,
        others=list(others) if others else None,
        sweep=sweep,
        settings=CompareSettings(sweep=sweep, seed=seed),
        blas_threads=threads,
        progress=progress,
    )
    stem = "equivalence-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", model)
    payload = res.to_dict()
    files = write_payload(out_dir, stem, payload, equivalence_markdown(res))
    return RecipeRun(res, payload, tuple(files))
