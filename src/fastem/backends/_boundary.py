"""The checked entry into the compiled kernels: nothing reaches them unchecked.

The Numba and Cython kernels read memory by the shapes they are handed and
run without bounds checks, so a shape that is wrong by one would be an
out-of-bounds read, not an error. :func:`call_kernel` is the only way the
compiled backends call a kernel: it checks every argument against the
kernel's signature in :data:`SIGNATURES` and only then calls it.

A signature names each argument's shape in symbols (``n`` rows, ``D``
features, ``K`` components, ``C`` centres, ``S`` scatter matrices, ``W`` row
weights) and its dtype (``rows``: the rows' own float32 or float64; or a
fixed dtype). Every occurrence of a symbol must have the same size, so the
means, the precision factors, the log-normalisers, the rows and the outputs
agree with each other in K and D. Arrays must be C-contiguous in native byte
order; outputs writable; parameters finite. The check costs O(K·D²) per call
(the factors' finiteness), nothing per row.

Inputs reach the kernels as read-only views, outputs as they are: Numba
compiles one version of a kernel per argument type, and a read-only array is a
different type from a writable one, so every call of a kernel with rows of one
dtype has one type signature — the one :func:`example_arguments` builds, which
is compiled ahead of use (:mod:`._compile`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._threads import thread_cap

FLOAT_ROWS = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class Arg:
    """One kernel argument: its shape in symbols, dtype and what is checked of its values.

    ``dtype`` is ``"rows"`` (the dtype of X: float32 or float64), ``"int"``
    (a Python integer, ``shape`` giving its least value), ``"bool"``, or a
    NumPy dtype name. ``values`` is ``"finite"``, ``"log"`` (finite or −inf:
    the log of a weight that may be 0) or None (not read, or an output).
    """

    shape: tuple = ()
    dtype: str = "float64"
    output: bool = False
    values: str | None = None


ROWS = Arg(("n", "D"), "rows")
WEIGHTS = Arg(("W",))  # (n,) or (0,) for unit weights
MEANS = Arg(("K", "D"), values="finite")
LOG_NORM = Arg(("K",), values="log")
TASK_ROWS = Arg((1,), "int")
LOGLIK = Arg((1,), output=True)

SIGNATURES: dict[str, dict[str, Arg]] = {
    "full.accumulate": {
        "X": ROWS,
        "sample_weight": WEIGHTS,
        "means": MEANS,
        "prec_chol": Arg(("K", "D", "D"), "rows", values="finite"),
        "log_norm": LOG_NORM,
        "per_component": Arg(dtype="bool"),
        "scatter_shift": Arg(("D",), values="finite"),
        "task_rows": TASK_ROWS,
        "out_loglik": LOGLIK,
        "out_resp_sum": Arg(("K",), output=True),
        "out_first": Arg(("K", "D"), output=True),
        "out_second": Arg(("S", "D", "D"), output=True),
    },
    "full.weighted_log_prob": {
        "X": ROWS,
        "means": MEANS,
        "prec_chol": Arg(("K", "D", "D"), "rows", values="finite"),
        "log_norm": LOG_NORM,
        "out": Arg(("n", "K"), output=True),
    },
    "diag.accumulate": {
        "X": ROWS,
        "sample_weight": WEIGHTS,
        "means": MEANS,
        "prec_chol": Arg(("K", "D"), values="finite"),
        "log_norm": LOG_NORM,
        "task_rows": TASK_ROWS,
        "out_loglik": LOGLIK,
        "out_resp_sum": Arg(("K",), output=True),
        "out_first": Arg(("K", "D"), output=True),
        "out_second": Arg(("K", "D"), output=True),
    },
    "diag.weighted_log_prob": {
        "X": ROWS,
        "means": MEANS,
        "prec_chol": Arg(("K", "D"), values="finite"),
        "log_norm": LOG_NORM,
        "out": Arg(("n", "K"), output=True),
    },
    "kmeans.update_closest": {
        "X": ROWS,
        "center": Arg((1, "D"), values="finite"),
        "closest": Arg(("n",), output=True),
    },
    "kmeans.candidate_potentials": {
        "X": ROWS,
        "sample_weight": WEIGHTS,
        "closest": Arg(("n",)),
        "candidates": Arg(("C", "D"), values="finite"),
        "task_rows": TASK_ROWS,
        "out": Arg(("C",), output=True),
    },
    "kmeans.lloyd_step": {
        "X": ROWS,
        "sample_weight": WEIGHTS,
        "centers": Arg(("C", "D"), values="finite"),
        "task_rows": TASK_ROWS,
        "out_sums": Arg(("C", "D"), output=True),
        "out_counts": Arg(("C",), output=True),
        "out_inertia": LOGLIK,
    },
    "kmeans.assign_labels": {
        "X": ROWS,
        "centers": Arg(("C", "D"), values="finite"),
        "labels": Arg(("n",), "intp", output=True),
    },
}


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view of the array (no copy; a memory map's as a plain ndarray)."""
    view = np.asarray(array).view()
    view.flags.writeable = False
    return view


def example_arguments(kernel: str, dtype) -> dict:
    """A small valid call of ``kernel`` on rows of ``dtype``, typed as every real call is.

    Three rows, two features, two components or centres, unit weights, finite
    parameters (ones): enough to compile or load the kernel, and cheap to run.
    """
    sizes = {"n": 3, "D": 2, "K": 2, "C": 2, "S": 2, "W": 0}
    arguments = {}
    for name, spec in SIGNATURES[kernel].items():
        if spec.dtype == "bool":
            arguments[name] = True
        elif spec.dtype == "int":
            arguments[name] = max(spec.shape[0], 128)
        else:
            shape = tuple(size if isinstance(size, int) else sizes[size] for size in spec.shape)
            array_dtype = dtype if spec.dtype == "rows" else spec.dtype
            arguments[name] = np.ones(shape, dtype=array_dtype)
    return arguments


def passed_arguments(kernel: str, arguments: dict) -> list:
    """The arguments in the kernel's order, as it receives them: inputs as read-only views."""
    return [
        value if spec.output or not isinstance(value, np.ndarray) else _read_only(value)
        for value, spec in ((arguments[name], spec) for name, spec in SIGNATURES[kernel].items())
    ]


def _fail(kernel: str, message: str):
    raise ValueError(f"{kernel}: {message}")


def _check_scalar(kernel: str, name: str, spec: Arg, value) -> None:
    if spec.dtype == "bool":
        if not isinstance(value, (bool, np.bool_)):
            _fail(kernel, f"{name} must be a bool, got {value!r}")
    elif (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or value < spec.shape[0]
    ):
        _fail(kernel, f"{name} must be an int >= {spec.shape[0]}, got {value!r}")


def _check_dtype(kernel: str, name: str, spec: Arg, array: np.ndarray, rows_dtype) -> None:
    expected = rows_dtype if spec.dtype == "rows" else np.dtype(spec.dtype)
    if array.dtype != expected:
        order = "" if array.dtype.isnative else " (non-native byte order)"
        _fail(kernel, f"{name} has dtype {array.dtype}{order}, expected {expected}")
    if not array.flags.c_contiguous:
        _fail(kernel, f"{name} must be C-contiguous")
    if spec.output and not array.flags.writeable:
        _fail(kernel, f"{name} is an output and must be writable")


def _check_values(kernel: str, name: str, spec: Arg, array: np.ndarray) -> None:
    if spec.values == "finite" and not np.all(np.isfinite(array)):
        _fail(kernel, f"{name} contains NaN or infinity")
    if spec.values == "log" and (np.any(np.isnan(array)) or np.any(array == np.inf)):
        _fail(kernel, f"{name} contains NaN or +infinity")


def _bind_shape(kernel: str, name: str, spec: Arg, shape: tuple, sizes: dict) -> None:
    if len(shape) != len(spec.shape):
        _fail(
            kernel,
            f"{name} has shape {shape}, expected {len(spec.shape)} dimensions "
            f"({', '.join(map(str, spec.shape))})",
        )
    for axis, (symbol, size) in enumerate(zip(spec.shape, shape, strict=True)):
        if isinstance(symbol, int):
            expected = symbol
        elif symbol == "W":  # row weights: one per row, or none at all
            if size not in (0, sizes["n"]):
                _fail(kernel, f"{name} has {size} entries for {sizes['n']} rows")
            continue
        else:
            expected = sizes.setdefault(symbol, size)
        if size != expected:
            _fail(
                kernel,
                f"{name} has shape {shape}: axis {axis} is {size} where {symbol} = "
                f"{expected} (from the arguments before it)",
            )


def check_call(kernel: str, arguments: dict, sizes: dict | None = None) -> dict:
    """Check ``arguments`` against the signature of ``kernel``; return the sizes bound.

    Parameters
    ----------
    kernel : str
        A key of :data:`SIGNATURES`, e.g. ``'full.accumulate'``.
    arguments : dict
        Every argument of the kernel by name.
    sizes : dict, optional
        Symbols bound in advance (``S``: K for full scatter, 1 for tied).

    Raises
    ------
    ValueError
        Naming the kernel, the argument and what disagrees.
    """
    signature = SIGNATURES[kernel]
    if set(arguments) != set(signature):
        _fail(kernel, f"arguments {sorted(arguments)} differ from {sorted(signature)}")
    sizes = dict(sizes or {})
    X = arguments["X"]
    if not isinstance(X, np.ndarray) or X.dtype not in FLOAT_ROWS or not X.dtype.isnative:
        _fail(
            kernel,
            f"X must be a float32 or float64 ndarray in native byte order, "
            f"got {getattr(X, 'dtype', type(X).__name__)}",
        )
    for name, spec in signature.items():
        value = arguments[name]
        if spec.dtype in ("int", "bool"):
            _check_scalar(kernel, name, spec, value)
            continue
        if not isinstance(value, np.ndarray):
            _fail(kernel, f"{name} must be an ndarray, got {type(value).__name__}")
        _check_dtype(kernel, name, spec, value, X.dtype)
        _bind_shape(kernel, name, spec, value.shape, sizes)
        _check_values(kernel, name, spec, value)
    if sizes.get("D", 1) < 1:
        _fail(kernel, "X has no features")
    if "per_component" in arguments:
        expected = sizes["K"] if arguments["per_component"] else 1
        if sizes["S"] != expected:
            _fail(kernel, f"out_second holds {sizes['S']} scatter matrices, expected {expected}")
    return sizes


# A thread must get at least this much work (multiply-adds) in a call, or the call runs on
# fewer threads: waking, scheduling and joining a thread costs tens of microseconds on an idle
# machine and a whole time slice on a busy one, more than a small call's work. Measured here:
# a fit of 178 rows × 4 features took 3 ms on one thread and 0.8 s on two with the other core
# busy. Results are bitwise the same for any thread count, so this changes only the time.
MIN_WORK_PER_THREAD = 1 << 20


def work_of(kernel: str, sizes: dict) -> int:
    """Multiply-adds of one call: rows × components (or centres) × D, × D for the full family."""
    family = kernel.split(".")[0]
    per_row = sizes.get("K", sizes.get("C", 1)) * sizes["D"]
    if family == "full":
        per_row *= sizes["D"]
    return sizes["n"] * per_row


def threads_for(kernel: str, sizes: dict, available: int) -> int:
    """Threads for one call: as many as its work keeps busy, at most ``available``."""
    return max(1, min(available, work_of(kernel, sizes) // MIN_WORK_PER_THREAD))


def call_kernel(
    module, kernel: str, arguments: dict, threads, max_threads: int, sizes: dict | None = None
):
    """Check the arguments, then call ``module.<function>`` on threads sized to its work.

    The arguments are passed in the order of the kernel's signature. The call
    runs on the current thread count (``n_jobs``), lowered to the cores
    available (:func:`thread_cap`: an ``OMP_NUM_THREADS`` larger than the
    machine, say) and to what its work keeps busy (:func:`threads_for`); the
    count is put back after it.
    """
    sizes = check_call(kernel, arguments, sizes)
    function = getattr(module, kernel.split(".")[1])
    ordered = passed_arguments(kernel, arguments)
    previous = threads.get_num_threads()
    chosen = threads_for(kernel, sizes, min(previous, thread_cap(max_threads)))
    if chosen == previous:
        return function(*ordered)
    threads.set_num_threads(chosen)
    try:
        return function(*ordered)
    finally:
        threads.set_num_threads(previous)
