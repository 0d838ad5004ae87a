"""Thread counts while kernels run: the kernels' own, and BLAS held to one.

``n_jobs`` sets the compiled kernels' thread count, Numba's and OpenMP's
alike, for the duration of a call, and puts the previous count back after it.
The compiled backends run their own threads over all cores; the little linear
algebra between their calls (Cholesky factors of K small matrices) gains
nothing from BLAS threads, whose busy-waiting would steal the cores from the
kernels (measured: 7× slower iterations on small data). So while a compiled
backend works, BLAS is held to one thread. The NumPy reference backend does its
heavy lifting in BLAS and keeps BLAS's own setting (it is the readable truth,
not a way to run fast).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from functools import lru_cache

from threadpoolctl import ThreadpoolController


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def thread_cap(max_threads: int) -> int:
    """The most threads a kernel is given: the cores available, within the pool's size.

    More threads than cores only wait for each other, and OpenMP would create
    as many as asked (``n_jobs=10**6`` must not exhaust the process).
    """
    return max(1, min(available_cores(), max_threads))


def resolve_n_jobs(n_jobs: int | None) -> int | None:
    """Threads for ``n_jobs``: None keeps the backend's default, −1 all cores, −2 all but one."""
    if n_jobs is None:
        return None
    if n_jobs < 0:
        return max(1, available_cores() + 1 + n_jobs)
    return n_jobs


@contextlib.contextmanager
def kernel_threads(backend, n_jobs: int | None = None) -> Iterator[None]:
    """A context in which ``backend`` runs on ``n_jobs`` threads and BLAS does not compete."""
    threads = getattr(backend, "threads", None)
    if threads is None:  # the NumPy reference: its threads are BLAS's own
        yield
        return
    n_threads = resolve_n_jobs(n_jobs)
    previous = threads.get_num_threads()
    if n_threads is not None:
        threads.set_num_threads(min(n_threads, thread_cap(backend.max_threads)))
    try:
        with _controller().limit(limits=1, user_api="blas"):
            yield
    finally:
        threads.set_num_threads(previous)
