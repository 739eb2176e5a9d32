"""The working set of :mod:`.solver`: which blocks and which cone rows its reduced
programs keep, and the small selections it makes from them."""

from __future__ import annotations

import numpy as np

__all__ = ["Working", "merge"]


class Working:
    """Working set: ``keep`` (``N x nb`` bool) marks kept cone rows, ``active`` (``nb``
    bool) the blocks of the reduced program."""

    def __init__(self, N: int, nb: int):
        self.keep = np.zeros((N, nb), dtype=bool)
        self.active = np.zeros(nb, dtype=bool)
        #: blocks that came back after leaving (never leave again: no cycling)
        self.sticky = np.zeros(nb, dtype=bool)
        self.left = np.zeros(nb, dtype=bool)

    def add(self, blocks: np.ndarray, rows: np.ndarray | None = None) -> int:
        """Add blocks and (row, block) pairs; returns how many were new."""
        blocks = np.asarray(blocks, dtype=int)
        new = int(np.count_nonzero(~self.active[blocks]))
        self.sticky[blocks[self.left[blocks]]] = True
        self.active[blocks] = True
        if rows is not None and rows.size:
            r, b = rows
            new += int(np.count_nonzero(~self.keep[r, b]))
            self.keep[r, b] = True
            self.active[b] = True
        return new


def merge(old, new, blocks):
    """Multiplier pairs ``(rows, blocks, mu)``: ``new`` for ``blocks``, ``old`` elsewhere."""
    stay = ~np.isin(old[1], blocks)
    return tuple(np.concatenate([o[stay], x]) for o, x in zip(old, new))
