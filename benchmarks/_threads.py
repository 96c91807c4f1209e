"""Shared helper, imported before numpy and torch: apply ``--threads N`` to the BLAS/OpenMP pools."""

from __future__ import annotations

import os
import sys


def early_threads() -> None:
    """Set the thread-pool variables from ``--threads N`` on the command line, if given."""
    if "--threads" in sys.argv[:-1]:
        n = sys.argv[sys.argv.index("--threads") + 1]
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = n
