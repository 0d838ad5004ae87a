"""Cython backend: the kernels of :mod:`fastem._cython`, compiled when fastem was installed."""

from .._cython import _openmp, diag, full, kmeans
from ._compiled import CompiledBackend

# OpenMP makes as many threads as asked; a serial build runs every kernel on one.
MAX_THREADS = 1 << 16 if _openmp.openmp_enabled() else 1

backend = CompiledBackend("cython", full, diag, kmeans, threads=_openmp, max_threads=MAX_THREADS)
