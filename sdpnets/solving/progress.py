"""A progress bar of a certified gap, for ``solve(verbose=True)`` of sdpnets' own solvers.

The bar runs on a logarithmic scale from a relative gap of 1 (empty) to the requested
``tol`` (full), its postfix the gap itself, so a stall is visible as a bar that stops.
It uses tqdm (the ``bench`` and ``test`` extras) when installed; without it each
certificate is logged at INFO level on ``sdpnets.solving.progress`` instead. Nothing is
shown unless the caller asked for ``verbose``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["gap_progress"]

logger = logging.getLogger(__name__)

#: Steps of the bar between a relative gap of 1 and ``tol``.
STEPS = 100


class _Bar:
    def __init__(self, tol: float, desc: str) -> None:
        from tqdm.auto import tqdm

        self.decades = max(-math.log10(tol), 1e-12)
        self.bar = tqdm(total=STEPS, desc=desc, unit="%", leave=False,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def __call__(self, rel: float) -> None:
        if not math.isfinite(rel):
            done = 0
        else:
            done = int(STEPS * min(max(-math.log10(max(rel, 1e-300)) / self.decades, 0.0), 1.0))
        self.bar.n = done
        self.bar.set_postfix_str(f"certified gap {rel:.2e}")

    def close(self) -> None:
        self.bar.close()


@contextmanager
def gap_progress(verbose: bool, tol: float, desc: str) -> Iterator[Callable[[float], None] | None]:
    """``with gap_progress(verbose, tol, desc) as progress:`` a callable taking each certified
    relative gap (``None`` unless ``verbose``): a tqdm bar when tqdm is installed, else an
    INFO log line per call."""
    if not verbose:
        yield None
        return
    try:
        bar = _Bar(tol, desc)
    except ImportError:
        def log(rel: float) -> None:
            logger.info("%s: certified relative gap %.2e (tol %.0e)", desc, rel, tol)

        yield log
        return
    try:
        yield bar
    finally:
        bar.close()
