"""Kernels made ready before use: only those a call needs, announced, off the clock, same bits.

Numba compiles a kernel the first time it meets a type signature (seconds to
a minute per kernel) and keeps it in its on-disk cache. Three things keep that
wait away from the user, and its bits out of the results:

- An installed fastem ships the cache: building it runs this module
  (``python -m fastem.backends._compile``, from ``setup.py``), which compiles
  every kernel for float32 and float64 rows and prints the seconds each took.
  A first fit on the machine that built it only loads them.
- A fit calls :func:`prepare` before its clock starts (and every kernel call
  checks that its family is prepared, a set lookup after the first time):
  each kernel runs once on a tiny call of its one type signature
  (:func:`._boundary.example_arguments`), so whatever must still be compiled
  (another CPU, another Numba) is compiled there, never inside an iteration's
  time or a progress bar's estimate, and is announced on the ``"fastem"``
  logger (a warning as it starts, INFO with the seconds as it ends).
- That compiling runs in a separate process, which fills the cache, and this
  process then loads the kernel from it. Code compiled in-process does not
  round like the same code loaded from the cache (Numba links a parallel
  kernel's helpers differently in the two cases, and the fast-math flags let
  LLVM contract and reassociate them differently: measured, the last bits of a
  fit differed), so a process that compiled would get other bits than one that
  loaded. Every process loading from the cache gets the same bits. Only where
  there is no cache (``FASTEM_NUMBA_CACHE=0``) or the separate process fails
  does a kernel compile in-process (announced the same way).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
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

MODULE = "fastem.backends._compile"  # run as ``python -m`` (``__name__`` is then '__main__')
_ready: set = set()  # (backend name, kernel, dtype) made ready in this process
_lock = threading.Lock()  # one preparation at a time (threads of a Dask worker, say)
_state = threading.local()  # .load_only: a compilation on this thread must not start


class MustCompile(Exception):
    """Raised from Numba's compile event when a kernel is not in the cache and may only load."""


def families_for(covariance_type: str, kmeans_start: bool) -> tuple[str, ...]:
    """The kernel families a fit of this layout calls ('full' for full and tied)."""
    layout = "full" if covariance_type in ("full", "tied") else "diag"
    return (layout, "kmeans") if kmeans_start else (layout,)


def run_example(module, kernel: str, dtype, threads, max_threads) -> None:
    """Call ``kernel`` of ``module`` once on its example arguments: loads or compiles it."""
    call_kernel(module, kernel, example_arguments(kernel, dtype), threads, max_threads)


def _run_examples(backend, family: str, kernels, dtype) -> None:
    for kernel in kernels:
        run_example(getattr(backend, family), kernel, dtype, backend.threads, backend.max_threads)


def _compile_elsewhere(family: str, dtype: np.dtype) -> None:
    """Compile a family's kernels into the cache in a child process (a failure is logged)."""
    logger.warning(
        "compiling fastem's %s kernels for %s rows in a separate process (once per machine "
        "and Numba version; kept in Numba's cache afterwards)",
        family,
        dtype,
        extra={"fastem": {"event": "compile_start", "kernel": family}},
    )
    package_parent = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", MODULE, "--family", family, "--dtype", dtype.name]
    started = perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True)
    except OSError as error:
        done = subprocess.CompletedProcess(command, -1, "", str(error))
    seconds = perf_counter() - started
    if done.returncode != 0:
        logger.warning(
            "compiling in a separate process failed (%s); compiling here instead",
            (done.stderr.strip().splitlines() or ["no message"])[-1],
        )
        return
    logger.info(
        "compiled fastem's %s kernels for %s rows in %.1f s",
        family,
        dtype,
        seconds,
        extra={"fastem": {"event": "compile_end", "kernel": family, "seconds": seconds}},
    )


def prepare(backend, families, dtype) -> None:
    """Load (or compile) each kernel of ``families`` for rows of ``dtype``, once per process.

    Parameters
    ----------
    backend : CompiledBackend
        Its kernel modules (``full``, ``diag``, ``kmeans``), thread control, and
        whether they are compiled just in time (``jit``).
    families : iterable of str
        Keys of :data:`FAMILIES`.
    dtype : dtype
        The rows' dtype, float32 or float64.
    """
    dtype = np.dtype(dtype)
    for family in families:
        missing = [k for k in FAMILIES[family] if (backend.name, k, dtype) not in _ready]
        if not missing:
            continue
        with _lock:
            _state.load_only = backend.jit and _numba_cache_on()
            try:
                _run_examples(backend, family, missing, dtype)
            except MustCompile:
                _state.load_only = False
                _compile_elsewhere(family, dtype)
                _run_examples(backend, family, missing, dtype)  # loads (compiles if it must)
            finally:
                _state.load_only = False
            _ready.update((backend.name, kernel, dtype) for kernel in missing)


def _numba_cache_on() -> bool:
    from .._kernels._common import CACHE

    return CACHE


def _kernel_name(dispatcher) -> str | None:
    """'full.accumulate' for a kernel of this package's signatures, else None (a helper)."""
    function = getattr(dispatcher, "py_func", None)
    module = getattr(function, "__module__", "") or ""
    if not module.startswith("fastem._kernels."):
        return None
    name = f"{module.rsplit('.', 1)[1]}.{function.__name__}"
    return name if name in SIGNATURES else None


class CompileLog:
    """What Numba's compile events mean here (fed by a listener in :mod:`.numba_backend`).

    A kernel about to compile while this thread may only load raises
    :class:`MustCompile` (it is then compiled in a separate process); otherwise
    its compilation is announced as it starts and ends. Helpers compiled inside
    a kernel are not announced on their own: their time is the kernel's.
    """

    def __init__(self):
        self._started: dict = {}
        self._guard = threading.Lock()

    def started(self, dispatcher, args) -> None:
        name = _kernel_name(dispatcher)
        if name is None:
            return
        if getattr(_state, "load_only", False):
            raise MustCompile(name)
        rows = getattr(args[0], "dtype", args[0])
        with self._guard:
            self._started[id(dispatcher), str(args)] = perf_counter()
        logger.warning(
            "compiling fastem's %s kernel for %s rows in this process (once per machine "
            "and Numba version; kept in Numba's cache afterwards)",
            name,
            rows,
            extra={"fastem": {"event": "compile_start", "kernel": name}},
        )

    def ended(self, dispatcher, args) -> None:
        name = _kernel_name(dispatcher)
        if name is None:
            return
        with self._guard:
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


def compile_all(families=tuple(FAMILIES), dtypes=ROW_DTYPES, stream=None) -> dict:
    """Compile (or load) the Numba kernels of ``families`` for rows of each dtype.

    Returns the seconds each (kernel, dtype) took; prints them to ``stream``.
    """
    import numba

    from .. import _kernels

    seconds = {}
    for family in families:
        module = importlib.import_module(f"{_kernels.__name__}.{family}")
        for dtype in map(np.dtype, dtypes):
            for kernel in FAMILIES[family]:
                started = perf_counter()
                run_example(module, kernel, dtype, numba, numba.config.NUMBA_NUM_THREADS)
                seconds[kernel, dtype.name] = perf_counter() - started
                if stream is not None:
                    print(
                        f"  {kernel:28s} {dtype.name:8s} {seconds[kernel, dtype.name]:6.1f} s",
                        file=stream,
                        flush=True,
                    )
    return seconds


# Work split for compiling in two processes: the full family takes about as long as the rest.
# Each kernel's cache index is written by one process only (helpers' entries may be written by
# both; a kernel's cached code holds its helpers, so those entries are never needed to load it).
FAMILY_GROUPS = (("full",), ("diag", "kmeans"))


def main(argv=None) -> int:
    """Fill Numba's cache of the kernels (run when fastem is built; safe to run again)."""
    parser = argparse.ArgumentParser(
        prog="python -m fastem.backends._compile", description=main.__doc__
    )
    parser.add_argument("--family", choices=list(FAMILIES), action="append", default=None)
    parser.add_argument(
        "--dtype", choices=[dtype.name for dtype in ROW_DTYPES], action="append", default=None
    )
    args = parser.parse_args(argv)
    dtypes = args.dtype or [dtype.name for dtype in ROW_DTYPES]
    started = perf_counter()
    if args.family is not None:
        compile_all(args.family, dtypes, stream=sys.stdout)
        return 0
    print("fastem: compiling the Numba kernels (seconds per kernel and row dtype):", flush=True)
    from .._threads import available_cores

    if available_cores() < 2:
        compile_all(tuple(FAMILIES), dtypes, stream=sys.stdout)
    else:  # two processes, each compiling on one core
        dtype_options = [option for dtype in dtypes for option in ("--dtype", dtype)]
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", MODULE]
                + [option for family in group for option in ("--family", family)]
                + dtype_options
            )
            for group in FAMILY_GROUPS
        ]
        if any([worker.wait() != 0 for worker in workers]):  # wait for both
            return 1
    print(f"fastem: kernels compiled and cached in {perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
