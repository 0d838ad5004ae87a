"""What the compiled backends share: adapting Mixture and SufficientStats to the kernels.

The Numba and the Cython kernels have the same signatures, so one adapter
serves both. Kernels take rows in calls whose size is chosen from a memory
budget for their per-task partial sums (never from the row count alone), so
memory stays bounded for any number of rows, components and features. Tasks
have a fixed number of rows, so results do not depend on the thread count.
"""

from __future__ import annotations

from types import ModuleType
from typing import Protocol

import numpy as np

from .._data import TASK_ROWS, working_dtype
from .._mixture import Mixture, diagonal_precisions_cholesky, full_precisions_cholesky
from .._stats import SufficientStats
from ._boundary import call_kernel
from ._compile import prepare

PARTIALS_BUDGET_BYTES = 4 << 20  # per call, for the tasks' partial statistics
MIN_TASKS_PER_THREAD = 4  # per call, so that threads finish a call close together


class ThreadControl(Protocol):
    """Numba's thread API, which the Cython backend's ``_openmp`` module mirrors."""

    def get_num_threads(self) -> int: ...

    def set_num_threads(self, n_threads: int) -> None: ...


def _upper_factors(mixture: Mixture, X) -> np.ndarray:
    """U_k stacked (K, D, D), exactly zero below the diagonal (the kernels read whole tiles).

    float32 for float32 rows: the kernels compute y = (x − μ) U in the data's precision.
    """
    return np.triu(full_precisions_cholesky(mixture)).astype(working_dtype(X.dtype), copy=False)


def _weights_or_empty(sample_weight) -> np.ndarray:
    if sample_weight is None:
        return np.empty(0)
    return np.ascontiguousarray(sample_weight, dtype=np.float64)


def _rows_of(weights: np.ndarray, rows: slice) -> np.ndarray:
    return weights if weights.shape[0] == 0 else weights[rows]


class CompiledBackend:
    """A backend made of compiled kernel modules ``full``, ``diag`` and ``kmeans``.

    Parameters
    ----------
    name : str
        The backend's name ('numba' or 'cython').
    full, diag, kmeans : module
        The kernel modules (same functions and signatures in both families).
    threads : ThreadControl
        Gets and sets the kernels' thread count.
    max_threads : int
        The most threads the kernels can be given (Numba's pool size).
    jit : bool
        Whether the kernels are compiled just in time (Numba's), so that
        :func:`._compile.prepare` loads them from the cache or compiles them
        in a separate process.
    """

    def __init__(
        self,
        name: str,
        full: ModuleType,
        diag: ModuleType,
        kmeans: ModuleType,
        threads: ThreadControl,
        max_threads: int,
        jit: bool = False,
    ):
        self.name = name
        self.jit = jit
        self.max_threads = max_threads
        self.full = full
        self.diag = diag
        self.kmeans = kmeans
        self.threads = threads

    def _calls(self, n_samples: int, bytes_per_task: int):
        n_tasks = max(
            MIN_TASKS_PER_THREAD * self.threads.get_num_threads(),
            PARTIALS_BUDGET_BYTES // max(bytes_per_task, 1),
        )
        rows_per_call = n_tasks * TASK_ROWS
        for start in range(0, n_samples, rows_per_call):
            yield slice(start, min(start + rows_per_call, n_samples))

    def prepare(self, families, dtype) -> None:
        """Have the kernels of ``families`` ready for rows of ``dtype`` (see :mod:`._compile`)."""
        prepare(self, families, dtype)

    def _call(self, kernel: str, sizes: dict | None = None, **arguments):
        """Every kernel call goes through the checked entry (:mod:`._boundary`).

        Its family is prepared first (a set lookup once it is): a kernel never
        compiles inside a call, and never in this process while a cache serves.
        """
        family = kernel.split(".")[0]
        X = arguments["X"]
        if isinstance(X, np.ndarray) and X.dtype in (np.float32, np.float64):
            prepare(self, (family,), X.dtype)
        module = getattr(self, family)
        return call_kernel(module, kernel, arguments, self.threads, self.max_threads, sizes)

    def accumulate(self, X, sample_weight, mixture: Mixture, stats: SufficientStats) -> None:
        """One fused E-step over X: add its log-likelihood and shifted sums to stats."""
        if not np.array_equal(stats.shift, mixture.means):
            raise ValueError("the compiled kernels take their sums about the current means")
        weights = _weights_or_empty(sample_weight)
        log_norm = mixture.log_norm()
        # Continue the running sum (tasks are added in order), so the statistics of rows
        # given in several calls equal, bit for bit, those of the rows given at once.
        loglik = np.array([stats.log_likelihood])
        n_components, n_features = mixture.means.shape
        scatter = mixture.covariance_type in ("full", "tied")
        if scatter:
            prec_chol = _upper_factors(mixture, X)
            per_component = mixture.covariance_type == "full"
            second = stats.second if per_component else stats.second[None]
            scatter_shift = stats.shift[0] if stats.scatter_shift is None else stats.scatter_shift
            n_scatter = n_components if per_component else 1
            bytes_per_task = 8 * (n_components * (n_features + 1) + n_scatter * n_features**2)
        else:
            prec_chol = diagonal_precisions_cholesky(mixture)
            bytes_per_task = 8 * n_components * (2 * n_features + 1)
        for rows in self._calls(X.shape[0], bytes_per_task):
            common = dict(
                X=X[rows],
                sample_weight=_rows_of(weights, rows),
                means=mixture.means,
                prec_chol=prec_chol,
                log_norm=log_norm,
                task_rows=TASK_ROWS,
                out_loglik=loglik,
                out_resp_sum=stats.resp_sum,
                out_first=stats.first,
            )
            if scatter:
                self._call(
                    "full.accumulate",
                    {"S": n_scatter},
                    per_component=per_component,
                    scatter_shift=scatter_shift,
                    out_second=second,
                    **common,
                )
            else:
                self._call("diag.accumulate", out_second=stats.second, **common)
        if scatter:
            # Diagonal tiles also sum a few entries below the diagonal: keep the upper triangle.
            stats.second[...] = np.triu(stats.second)
        stats.log_likelihood = float(loglik[0])
        stats.total_weight += float(X.shape[0] if sample_weight is None else weights.sum())

    def weighted_log_prob(self, X, mixture: Mixture, out=None) -> np.ndarray:
        """log(w_k N(x | μ_k, Σ_k)) for every row of X, shape (n, K), float64."""
        if out is None:
            out = np.empty((X.shape[0], mixture.n_components))
        if mixture.covariance_type in ("full", "tied"):
            self._call(
                "full.weighted_log_prob",
                X=X,
                means=mixture.means,
                prec_chol=_upper_factors(mixture, X),
                log_norm=mixture.log_norm(),
                out=out,
            )
        else:
            self._call(
                "diag.weighted_log_prob",
                X=X,
                means=mixture.means,
                prec_chol=diagonal_precisions_cholesky(mixture),
                log_norm=mixture.log_norm(),
                out=out,
            )
        return out

    # --- k-means primitives ---------------------------------------------------

    def update_closest(self, X, center, closest) -> None:
        """closest ← min(closest, ‖x − center‖²), row by row."""
        center = np.ascontiguousarray(center, dtype=np.float64).reshape(1, -1)
        self._call("kmeans.update_closest", X=X, center=center, closest=closest)

    def candidate_potentials(self, X, sample_weight, closest, candidates) -> np.ndarray:
        """Σ_n w_n min(closest_n, ‖x_n − c‖²) for each candidate centre c."""
        weights = _weights_or_empty(sample_weight)
        candidates = np.ascontiguousarray(candidates, dtype=np.float64)
        potentials = np.zeros(candidates.shape[0])
        for rows in self._calls(X.shape[0], 8 * candidates.shape[0]):
            self._call(
                "kmeans.candidate_potentials",
                X=X[rows],
                sample_weight=_rows_of(weights, rows),
                closest=closest[rows],
                candidates=candidates,
                task_rows=TASK_ROWS,
                out=potentials,
            )
        return potentials

    def lloyd_step(self, X, sample_weight, centers):
        """Per-centre Σ w (x − c), Σ w and the inertia Σ w ‖x − c‖² of the nearest centres."""
        weights = _weights_or_empty(sample_weight)
        centers = np.ascontiguousarray(centers, dtype=np.float64)
        sums = np.zeros_like(centers)
        counts = np.zeros(centers.shape[0])
        inertia = np.zeros(1)
        for rows in self._calls(X.shape[0], 8 * centers.shape[0] * (centers.shape[1] + 1)):
            self._call(
                "kmeans.lloyd_step",
                X=X[rows],
                sample_weight=_rows_of(weights, rows),
                centers=centers,
                task_rows=TASK_ROWS,
                out_sums=sums,
                out_counts=counts,
                out_inertia=inertia,
            )
        return sums, counts, float(inertia[0])

    def assign_labels(self, X, centers) -> np.ndarray:
        """The index of the nearest centre for every row."""
        labels = np.empty(X.shape[0], dtype=np.intp)
        self._call(
            "kmeans.assign_labels",
            X=X,
            centers=np.ascontiguousarray(centers, dtype=np.float64),
            labels=labels,
        )
        return labels
