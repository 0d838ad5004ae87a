"""Keep BLAS threads from competing with the kernels' threads.

The compiled backends run their own threads over all cores; the little linear
algebra between their calls (Cholesky factors of K small matrices) gains
nothing from BLAS threads, whose busy-waiting would steal the cores from the
kernels (measured: 7× slower iterations on small data). So while a compiled
backend works, BLAS is held to one thread. The NumPy reference backend does its
heavy lifting in BLAS and keeps BLAS's own setting.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

from threadpoolctl import ThreadpoolController


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()


def blas_limited_for(backend):
    """A context in which BLAS uses one thread, if ``backend`` runs threads of its own."""
    if backend.name == "numpy":
        return contextlib.nullcontext()
    return _controller().limit(limits=1, user_api="blas")
