"""Numba backend: the kernels of :mod:`fastem._kernels`, compiled just in time and cached.

Each compilation of a kernel is announced on the ``"fastem"`` logger
(:class:`._compile.CompileLog`, fed by Numba's compile events).
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
    "numba", full, diag, kmeans, threads=numba, max_threads=numba.config.NUMBA_NUM_THREADS
)
