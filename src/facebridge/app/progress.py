"""Progress callbacks for the terminal: one tqdm bar, or one line per message.

Both are :class:`facebridge.vocabulary.Progress` callbacks, called as
``progress(stage, done, total)``.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["LineProgress", "TqdmProgress"]


class TqdmProgress:
    """A :class:`~facebridge.vocabulary.Progress` drawing one tqdm bar on stderr.

    A new ``stage`` resets the bar; a disabled instance does nothing; :meth:`close` ends it.

    Parameters
    ----------
    desc : str
        The bar's label (the stage is appended).
    enabled : bool
        Draw the bar (``False``: every call does nothing).

    Examples
    --------
    >>> bar = TqdmProgress("analysis", enabled=False)
    >>> bar("matrix", 1, 4)
    >>> bar.close()
    """

    def __init__(self, desc: str = "analysis", enabled: bool = True) -> None:
        self.desc = desc
        self.enabled = enabled
        self._bar: Any = None
        self._stage: str | None = None

    def __call__(self, stage: str, done: int, total: int, /) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=self.desc, file=sys.stderr, unit="step", leave=True)
        bar = self._bar
        if stage != self._stage:
            self._stage = stage
            bar.reset(total=total)
            bar.set_description_str(f"{self.desc}: {stage}", refresh=False)
        elif bar.total != total:
            bar.total = total
        bar.n = int(done)
        bar.refresh()

    def close(self) -> None:
        """End the bar (a later call starts a new one)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class LineProgress:
    """A :class:`~facebridge.vocabulary.Progress` printing ``command: stage [done/total]`` lines
    on stderr.

    It also accepts a lone message (``progress("fold 3")``), the form the recipe comparison and
    the equivalence test report their steps in.

    Parameters
    ----------
    command : str
        The prefix of every line (the command's name).
    enabled : bool
        Print (``False``: every call does nothing).

    Examples
    --------
    >>> say = LineProgress("compare-maps", enabled=False)
    >>> say("matrix", 1, 2)
    """

    def __init__(self, command: str, enabled: bool = True) -> None:
        self.command = command
        self.enabled = enabled

    def __call__(self, stage: str, done: int | None = None, total: int | None = None, /) -> None:
        if not self.enabled:
            return
        count = f" {done}/{total}" if done is not None and total is not None else ""
        print(f"{self.command}: {stage}{count}", file=sys.stderr, flush=True)
