"""Kernels made ready before a fit uses them: only those it needs, announced, off the clock.

Numba compiles a kernel the first time it meets a type signature, which takes
seconds to a minute per kernel, then keeps it in its on-disk cache. Two things
keep that wait away from the user:

- An installed fastem ships the cache: building it runs this module
  (``python -m fastem.backends._compile``, from ``setup.py``), which compiles
  every kernel for float32 and float64 rows and prints the seconds each took.
  A first fit on the machine that built it only loads them.
- A fit calls :func:`prepare` before its clock starts: each kernel it will
  call runs once on a tiny call of its one type signature
  (:func:`._boundary.example_arguments`), so whatever must still be compiled
  (another CPU, another Numba) is compiled there, never inside an iteration's
  time or a progress bar's estimate; and :class:`CompileAnnouncer` logs each
  compilation to the ``"fastem"`` logger as it starts and ends (the first one
  in a process as a warning, so that a long silent wait never happens).

Compiled or loaded, the machine code is the same, so results do not depend on
whether the cache was warm.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import threading
from time import perf_counter

import numpy as np

from ._boundary import SIGNATURES, call_kernel, example_arguments

logger = logging.getLogger("fastem")

# The kernels a fit of each layout family calls, and those of the k-means start.
FAMILIES = {
    family: tuple(kernel for kernel in SIGNATURES if kernel.startswith(family + "."))
    for family in ("full", "diag", "kmeans")
}
ROW_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))

_ready: set = set()  # (backend name, kernel, dtype) made ready in this process


def families_for(covariance_type: str, kmeans_start: bool) -> tuple[str, ...]:
    """The kernel families a fit of this layout calls ('full' for full and tied)."""
    layout = "full" if covariance_type in ("full", "tied") else "diag"
    return (layout, "kmeans") if kmeans_start else (layout,)


def prepare(backend, families, dtype) -> None:
    """Compile or load each kernel of ``families`` for rows of ``dtype``, once per process.

    Parameters
    ----------
    backend : CompiledBackend
        Its kernel modules (``full``, ``diag``, ``kmeans``) and thread control.
    families : iterable of str
        Keys of :data:`FAMILIES`.
    dtype : dtype
        The rows' dtype, float32 or float64.
    """
    dtype = np.dtype(dtype)
    for family in families:
        for kernel in FAMILIES[family]:
            key = (backend.name, kernel, dtype)
            if key in _ready:
                continue
            call_kernel(
                getattr(backend, family),
                kernel,
                example_arguments(kernel, dtype),
                backend.threads,
                backend.max_threads,
            )
            _ready.add(key)


def _kernel_name(dispatcher) -> str | None:
    """'full.accumulate' for a kernel of this package's signatures, else None (a helper)."""
    function = getattr(dispatcher, "py_func", None)
    module = getattr(function, "__module__", "") or ""
    if not module.startswith("fastem._kernels."):
        return None
    name = f"{module.rsplit('.', 1)[1]}.{function.__name__}"
    return name if name in SIGNATURES else None


class CompileLog:
    """Logs the compilation of each of fastem's kernels as Numba starts and ends it.

    Fed by a Numba event listener (:mod:`.numba_backend`). Helpers compiled
    inside a kernel are not announced on their own: their time is the kernel's.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._started: dict = {}
        self._announced_any = False

    def started(self, dispatcher, args) -> None:
        name = _kernel_name(dispatcher)
        if name is None:
            return
        rows = getattr(args[0], "dtype", args[0])
        with self._lock:
            self._started[id(dispatcher), str(args)] = perf_counter()
            first, self._announced_any = not self._announced_any, True
        logger.log(
            logging.WARNING if first else logging.INFO,
            "compiling fastem's %s kernel for %s rows (once per machine and Numba "
            "version; kept in Numba's cache afterwards)",
            name,
            rows,
            extra={"fastem": {"event": "compile_start", "kernel": name}},
        )

    def ended(self, dispatcher, args) -> None:
        name = _kernel_name(dispatcher)
        if name is None:
            return
        with self._lock:
            started = self._started.pop((id(dispatcher), str(args)), None)
        if started is None:
            return
        seconds = perf_counter() - started
        logger.info(
            "compiled fastem's %s kernel in %.1f s",
            name,
            seconds,
            extra={"fastem": {"event": "compile_end", "kernel": name, "seconds": seconds}},
        )


def compile_all(dtypes=ROW_DTYPES, stream=None) -> dict:
    """Compile (or load) every Numba kernel for rows of each dtype; seconds per (kernel, dtype)."""
    import numba

    from .. import _kernels

    seconds = {}
    for dtype in dtypes:
        for family, kernels in FAMILIES.items():
            module = importlib.import_module(f"{_kernels.__name__}.{family}")
            for kernel in kernels:
                started = perf_counter()
                call_kernel(
                    module,
                    kernel,
                    example_arguments(kernel, dtype),
                    numba,
                    numba.config.NUMBA_NUM_THREADS,
                )
                seconds[kernel, np.dtype(dtype).name] = perf_counter() - started
                if stream is not None:
                    print(
                        f"  {kernel:28s} {np.dtype(dtype).name:8s} "
                        f"{seconds[kernel, np.dtype(dtype).name]:6.1f} s",
                        file=stream,
                        flush=True,
                    )
    return seconds


def main(argv=None) -> int:
    """Fill Numba's cache of the kernels (run when fastem is built; safe to run again)."""
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m fastem.backends._compile", description=main.__doc__
    )
    parser.add_argument(
        "--dtype", choices=[dtype.name for dtype in ROW_DTYPES], action="append", default=None
    )
    args = parser.parse_args(argv)
    dtypes = args.dtype or [dtype.name for dtype in ROW_DTYPES]
    print("fastem: compiling the Numba kernels (seconds per kernel and row dtype):", flush=True)
    started = perf_counter()
    compile_all(dtypes, stream=sys.stdout)
    print(f"fastem: kernels compiled and cached in {perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
