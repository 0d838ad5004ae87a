"""Numba backend: the kernels of :mod:`fastem._kernels`, compiled just in time and cached.

Kernels are loaded from Numba's cache, or compiled in a separate process that
fills it (:mod:`._compile`); Numba's compile events reach
:class:`._compile.CompileLog`, which stops a compilation that would happen in
this process while the cache serves, and announces one that must.
"""

import numba
from numba.core import event

from .._kernels import diag, full, kmeans
from ._compile import CompileLog
from ._compiled import CompiledBackend


class _CompileListener(event.Listener):
    """Numba's 'numba:compile' events, passed on to a :class:`CompileLog`."""

    def __init__(self, log: CompileLog):
        self.log = log

    def on_start(self, event):
        self.log.started(event.data["dispatcher"], event.data["args"])

    def on_end(self, event):
        self.log.ended(event.data["dispatcher"], event.data["args"])


event.register("numba:compile", _CompileListener(CompileLog()))

backend = CompiledBackend(
    "numba",
    full,
    diag,
    kmeans,
    threads=numba,
    max_threads=numba.config.NUMBA_NUM_THREADS,
    jit=True,
)
