"""Numba backend: the kernels of :mod:`fastem._kernels`, compiled just in time and cached."""

import numba

from .._kernels import diag, full, kmeans
from ._compiled import CompiledBackend

backend = CompiledBackend(
    "numba", full, diag, kmeans, threads=numba, max_threads=numba.config.NUMBA_NUM_THREADS
)
