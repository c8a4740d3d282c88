"""The report's figures, rendered with matplotlib (Agg) to PNG bytes.

* :func:`matrix_figure` — heat map of the cross-model matrix (unmapped accuracy in parentheses);
* :func:`pairs_sweep_figure` — accuracy against the number of corresponding pairs, one panel per
  source model, one curve per target, the smallest p within 1 point of the full map marked
  (the paper's Figure 3);
* :func:`rank_sweep_figure` — accuracy against the rank of the truncated map (Figure 4);
* :func:`roc_figure` — ROC curves (TAR against FMR) of the native and mapped comparisons.

matplotlib is imported inside the functions with the Agg backend, so importing this module is cheap.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from facebridge.report._results import matrix_cell, smallest_within_one_point
from facebridge.vocabulary import map_key

_DPI = 110


def _plt() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (shared by the report's figure modules)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    """The figure as PNG bytes (no software tag, so equal figures give equal bytes); closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return buf.getvalue()


def _colours(models: Sequence[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    palette = [cmap(i) for i in (0, 1, 2, 4, 5, 6, 8, 9, 7)]  # no red: red marks "within 1 pt"
    return {m: palette[i % len(palette)] for i, m in enumerate(models)}


def _grid(n: int) -> tuple[int, int]:
    cols = min(3, n)
    return math.ceil(n / cols), cols


def _panel_grid(n: int) -> tuple[Any, list[Any], int]:
    """A figure of ``n`` panels (one per source model), up to 3 a row, sharing the y axis.

    Returns the figure, its panels in row-major order (spare ones included) and the column count.
    """
    rows, cols = _grid(n)
    fig, axes = _plt().subplots(
        rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False, sharey=True
    )
    return fig, [axes[i // cols][i % cols] for i in range(rows * cols)], cols


def _finish_panels(fig: Any, panels: list[Any], n: int, title: str) -> bytes:
    """Hide the spare panels after the first ``n``, add the title, lay out; the PNG bytes."""
    for ax in panels[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    return _png(fig)


def matrix_figure(results: Mapping[str, Any], title: str = "") -> bytes:
    """Heat map of the cross-model matrix: rows From, columns To, cells ``mapped (unmapped)``.

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).
    title : str, default ''
        Figure title.

    Returns
    -------
    bytes
        The figure as PNG.
    """
    plt = _plt()
    import numpy as np

    models = list(results["models"])
    n = len(models)
    acc = np.zeros((n, n))
    labels: list[list[str]] = []
    for i, a in enumerate(models):
        row = []
        for j, b in enumerate(models):
            cell = matrix_cell(results, a, b)
            acc[i, j] = 100.0 * float(cell["accuracy"])
            if a == b:
                row.append(f"{acc[i, j]:.2f}\nnative")
            else:
                un = cell.get("unmapped_accuracy")
                un_s = "n/a" if un is None else f"{100 * float(un):.1f}"
                row.append(f"{acc[i, j]:.2f}\n({un_s})")
        labels.append(row)
    size = max(5.0, 1.45 * n + 1.5)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    lo = max(50.0, math.floor(acc.min()) - 1.0)
    im = ax.imshow(acc, cmap="viridis", vmin=lo, vmax=100.0)
    for i in range(n):
        for j in range(n):
            colour = "black" if acc[i, j] > lo + 0.6 * (100 - lo) else "white"
            ax.text(
                j,
                i,
                labels[i][j],
                ha="center",
                va="center",
                fontsize=9,
                color=colour,
                fontweight="bold" if i == j else "normal",
            )
    ax.set_xticks(range(n), models, rotation=30, ha="right")
    ax.set_yticks(range(n), models)
    ax.set_xlabel("To (target space)")
    ax.set_ylabel("From (source space)")
    ax.set_title(title or "Verification accuracy %: mapped (unmapped)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="accuracy %")
    return _png(fig)


def _sweep_figure(
    results: Mapping[str, Any],
    sweep_name: str,
    x_name: str,
    xlabel: str,
    title: str,
    *,
    log_base: float,
) -> bytes | None:
    sweep = results.get(sweep_name)
    if not sweep:
        return None
    models = list(results["models"])
    colours = _colours(models)
    fig, panels, cols = _panel_grid(len(models))
    for idx, a in enumerate(models):
        ax = panels[idx]
        for b in models:
            if a == b:
                continue
            entry = sweep.get(map_key(a, b))
            if not entry:
                continue
            xs = [float(x) for x in entry[x_name]]
            ys = [None if y is None else 100.0 * float(y) for y in entry["accuracy"]]
            ax.plot(
                xs, [math.nan if y is None else y for y in ys], color=colours[b], lw=1.6, label=b
            )
            full = float(matrix_cell(results, a, b)["accuracy"])
            if sweep_name == "rank_sweep" and entry["accuracy"][-1] is not None:
                full = float(entry["accuracy"][-1])
            ax.axhline(100.0 * full, color=colours[b], lw=0.8, ls=":", alpha=0.7)
            x1 = entry.get("p_within_1pt") if sweep_name == "pairs_sweep" else None
            if x1 is None:
                x1 = smallest_within_one_point(xs, entry["accuracy"], full)
            if x1 is not None:
                y1 = next(
                    (y for x, y in zip(xs, ys, strict=True) if x >= float(x1) and y is not None),
                    None,
                )
                if y1 is not None:
                    ax.plot(
                        [float(x1)], [y1], "o", color="red", mec="black", mew=0.6, ms=6, zorder=5
                    )
        ax.set_xscale("log", base=log_base)
        ax.set_title(f"from {a}")
        ax.set_xlabel(xlabel)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, title="to", title_fontsize=8, loc="lower right")
        if idx % cols == 0:
            ax.set_ylabel("accuracy %")
    return _finish_panels(fig, panels, len(models), title)


def pairs_sweep_figure(results: Mapping[str, Any]) -> bytes | None:
    """Accuracy against the number p of corresponding pairs the map is fitted on (Figure 3).

    Dotted lines: each map fitted on all training pairs; red dots: the smallest p within 1 point.
    Returns None when ``results`` has no pairs sweep.

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).

    Returns
    -------
    bytes or None
        The figure as PNG; ``None`` without a pairs sweep.
    """
    return _sweep_figure(
        results,
        "pairs_sweep",
        "p",
        "corresponding pairs the map is fitted on (log scale)",
        "Pairs needed: mapped accuracy vs number of training pairs "
        "(dotted: all pairs; red: within 1 point)",
        log_base=10,
    )


def rank_sweep_figure(results: Mapping[str, Any]) -> bytes | None:
    """Accuracy against the rank k of the SVD-truncated map (Figure 4); None without a rank sweep.

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).

    Returns
    -------
    bytes or None
        The figure as PNG; ``None`` without a rank sweep.
    """
    return _sweep_figure(
        results,
        "rank_sweep",
        "rank",
        "rank of the map (log2 scale)",
        "Rank needed: mapped accuracy vs rank of the truncated map "
        "(dotted: full rank; red: within 1 point)",
        log_base=2,
    )


def _roc_curve(entry: Mapping[str, Any]) -> tuple[list[float], list[float]] | None:
    fmr = entry.get("fmr", entry.get("far"))
    tar = entry.get("tar", entry.get("tpr"))
    if not isinstance(fmr, Sequence) or not isinstance(tar, Sequence) or len(fmr) != len(tar):
        return None
    pts = [
        (float(f), float(t))
        for f, t in zip(fmr, tar, strict=True)
        if f is not None and t is not None
    ]
    return ([f for f, _ in pts], [t for _, t in pts]) if pts else None


def roc_figure(results: Mapping[str, Any]) -> bytes | None:
    """ROC curves (TAR vs FMR, log FMR) per source model: its native curve and each mapped one.

    Reads ``results["roc"]["A->B"]`` (and ``"A->A"`` for native) with ``fmr`` and ``tar`` lists;
    returns None when no curve points are present.

    Parameters
    ----------
    results : mapping
        A validated ``results.json`` payload (:func:`~facebridge.report.validate_results`).

    Returns
    -------
    bytes or None
        The figure as PNG; ``None`` when no curve points are present.
    """
    roc = results.get("roc") or {}
    models = list(results["models"])
    curves = {k: c for k, v in roc.items() if isinstance(v, Mapping) and (c := _roc_curve(v))}
    if not curves:
        return None
    colours = _colours(models)
    fig, panels, cols = _panel_grid(len(models))
    for idx, a in enumerate(models):
        ax = panels[idx]
        for b in models:
            key = map_key(a, b)
            curve = curves.get(key) or (curves.get(a) if a == b else None)
            if curve is None:
                continue
            fmr, tar = curve
            fmr = [max(f, 1e-5) for f in fmr]
            if a == b:
                ax.plot(fmr, tar, color="black", lw=2.0, ls="--", label=f"{a} (native)")
            else:
                ax.plot(fmr, tar, color=colours[b], lw=1.4, label=f"-> {b}")
        ax.set_xscale("log")
        ax.set_xlim(1e-4, 1.0)
        ax.set_title(f"from {a}")
        ax.set_xlabel("false match rate (log)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        if idx % cols == 0:
            ax.set_ylabel("true accept rate")
    return _finish_panels(fig, panels, len(models), "ROC of native and mapped comparisons")
