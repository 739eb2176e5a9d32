"""Conic programs in files: the standard form they are written from, and the formats.

:mod:`.conic` takes a cvxpy problem to the linear conic standard form; :mod:`.cbf` writes and
reads the Conic Benchmark Format (CBLIB, MOSEK), :mod:`.sdpa` the SDPA sparse format
(SDPA, CSDP, SDPT3). The readers turn a file back into a cvxpy problem, so a file can be
solved again and checked against the optimum it was written with (``sdpnets bench export``).
"""

from .cbf import read_cbf, write_cbf
from .conic import ConicForm, conic_form
from .sdpa import read_sdpa, sdpa_refusal, write_sdpa

__all__ = ["ConicForm", "conic_form", "write_cbf", "read_cbf", "write_sdpa", "read_sdpa",
           "sdpa_refusal", "FORMATS", "SUFFIXES"]

#: Format name -> file suffix.
SUFFIXES: dict[str, str] = {"cbf": ".cbf", "sdpa": ".dat-s"}

#: The formats ``sdpnets bench export`` writes.
FORMATS: tuple[str, ...] = tuple(SUFFIXES)
