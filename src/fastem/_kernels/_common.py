"""What every Numba kernel shares: compile flags, the row block, the reduction.

Rows are processed in blocks of ``BLOCK`` rows, held *transposed* in a
thread-local ``(n_features, BLOCK)`` buffer so that the rows of a block sit
along the SIMD lanes and every inner loop runs over the same constant-length
lane axis. A block's padding lanes (past the last row) repeat its first row
with weight 0, so they are finite and contribute nothing.

Determinism: the rows of a call are split into tasks of a fixed number of rows
(``task_rows``, a multiple of ``BLOCK``) that do not depend on the thread count;
each task sums its blocks in order into its own partial, and partials are added
to the output in task order. (A parallel loop runs consecutive tasks in groups
that share one set of scratch buffers, see ``tasks_per_group``: a task's partial
does not depend on its group.) A result therefore has the same bits whatever the
number of threads, and whatever the grouping of tasks into calls.
"""

import os

from numba import njit
from numba.core import config
from numba.core.codegen import get_host_cpu_features

# fastmath as a named set: no 'nnan'/'ninf' (log-weights and log-sum-exp meet
# −inf) and no 'afn' (approximate exp/log would cost the 1e-7 parity).
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
# Without 'reassoc': for code whose rounding order is the point (Cody–Waite reduction).
FASTMATH_ORDERED = FASTMATH - {"reassoc"}

# Compiled kernels are cached on disk unless FASTEM_NUMBA_CACHE=0 (read-only installs).
CACHE = os.environ.get("FASTEM_NUMBA_CACHE", "1") != "0"

BLOCK = 256  # rows per block: 64 AVX2 (32 AVX-512) float64 vectors per row of the buffer;
# long lane loops amortise each helper's set-up (1.1–1.3× faster than 128 on AVX2)
BLOCKS_PER_TASK = 16  # blocks per task where no reduction needs a fixed split (predict)
MIN_GROUPS = 64  # groups of tasks a call is split into where it has enough tasks
MAX_TASKS_PER_GROUP = 8  # consecutive tasks run by one iteration of a parallel loop


def _vector_registers() -> int:
    """SIMD registers of the CPU Numba compiles for: 32 with AVX-512, 16 otherwise.

    The features are Numba's own (``NUMBA_CPU_FEATURES`` if set, else the
    host's), and Numba's cache is keyed on them, so a cached kernel always
    matches this count.
    """
    features = config.CPU_FEATURES
    if features is None:
        features = get_host_cpu_features()
    return 32 if "+avx512f" in features.split(",") else 16


VECTOR_REGISTERS = _vector_registers()

# Every kernel's other compile options. error_model="numpy": IEEE division (x / 0
# gives ±inf or NaN). Numba's default, Python's rule, tests every divisor for zero
# to raise, and that branch keeps a loop with a division from becoming SIMD code.
_JIT = {"cache": CACHE, "nogil": True, "error_model": "numpy"}


def parallel_kernel(function):
    """A multi-threaded kernel (``prange`` over tasks or blocks)."""
    return njit(parallel=True, fastmath=FASTMATH, **_JIT)(function)


def block_kernel(function=None, *, fastmath=FASTMATH):
    """A serial helper called from inside a parallel kernel (inlined by LLVM)."""
    if function is None:
        return lambda f: block_kernel(f, fastmath=fastmath)
    return njit(fastmath=fastmath, **_JIT)(function)


@block_kernel
def _load_rows(X, start, xt):
    """xt[d, b] = X[start + b, d] for a whole block: four features per lane loop.

    Each loop reads a fixed group of columns from every row, so LLVM loads them
    as interleaved vectors and transposes in registers (one column per loop, or
    every column in one loop of unknown length, reads one element at a time).
    """
    n_features = X.shape[1]
    n_grouped = n_features - n_features % 4
    for d in range(0, n_grouped, 4):
        for b in range(BLOCK):
            xt[d, b] = X[start + b, d]
            xt[d + 1, b] = X[start + b, d + 1]
            xt[d + 2, b] = X[start + b, d + 2]
            xt[d + 3, b] = X[start + b, d + 3]
    left = n_features - n_grouped
    d = n_grouped
    if left == 1:
        for b in range(BLOCK):
            xt[d, b] = X[start + b, d]
    elif left == 2:
        for b in range(BLOCK):
            xt[d, b] = X[start + b, d]
            xt[d + 1, b] = X[start + b, d + 1]
    elif left == 3:
        for b in range(BLOCK):
            xt[d, b] = X[start + b, d]
            xt[d + 1, b] = X[start + b, d + 1]
            xt[d + 2, b] = X[start + b, d + 2]


@block_kernel
def load_block(X, sample_weight, start, n_rows, xt, wt):
    """xt[d, b] = X[start + b, d] as float64; wt[b] = row weight, 0 on padding lanes.

    A block's padding lanes (b ≥ n_rows) repeat its first row.
    """
    if n_rows == BLOCK:
        _load_rows(X, start, xt)
        if sample_weight.shape[0] == 0:
            for b in range(BLOCK):
                wt[b] = 1.0
        else:
            for b in range(BLOCK):
                wt[b] = sample_weight[start + b]
        return
    n_features = X.shape[1]
    unweighted = sample_weight.shape[0] == 0
    for b in range(BLOCK):
        row = start + b if b < n_rows else start
        for d in range(n_features):
            xt[d, b] = X[row, d]
        if b >= n_rows:
            wt[b] = 0.0
        elif unweighted:
            wt[b] = 1.0
        else:
            wt[b] = sample_weight[row]


@block_kernel
def tasks_per_group(n_tasks):
    """Tasks per group: a parallel loop runs groups of consecutive tasks, in order.

    The scratch buffers are allocated once per group instead of once per task.
    At least ``MIN_GROUPS`` groups where there are enough tasks, so that threads
    still share the work. Each task writes its own partial, so the grouping never
    changes a result.
    """
    return max(1, min(MAX_TASKS_PER_GROUP, n_tasks // MIN_GROUPS))


@block_kernel
def store_block(log_prob, start, n_rows, out):
    """out[start + b, k] = log_prob[k, b] for the real rows of the block."""
    n_components = log_prob.shape[0]
    for b in range(n_rows):
        for k in range(n_components):
            out[start + b, k] = log_prob[k, b]


@block_kernel
def clear_partials(t, partial_loglik, partial_resp_sum, partial_first, partial_second):
    """Zero task t's partials, as the task's first step.

    The partials are allocated uninitialised: zeroed by their own task, their
    lines are in that thread's cache for the sums that follow, instead of being
    written once more by a separate pass over all tasks before the parallel loop.
    """
    partial_loglik[t] = 0.0
    partial_resp_sum[t] = 0.0
    partial_first[t] = 0.0
    partial_second[t] = 0.0


@block_kernel
def add_partials(
    partial_loglik,
    partial_resp_sum,
    partial_first,
    partial_second,
    out_loglik,
    out_resp_sum,
    out_first,
    out_second,
):
    """Add task partials to the outputs in task order (the fixed-order reduction)."""
    for t in range(partial_loglik.shape[0]):
        out_loglik[0] += partial_loglik[t]
        out_resp_sum += partial_resp_sum[t]
        out_first += partial_first[t]
        out_second += partial_second[t]
