"""Numba backend: adapts :class:`~fastem._mixture.Mixture` to the compiled kernels.

The kernels take rows in calls whose size is chosen from a memory budget for
their per-task partial sums (never from the row count alone), so memory stays
bounded for any number of rows, components and features.
"""

from __future__ import annotations

import numba
import numpy as np

from .._kernels import diag, full, kmeans
from .._kernels._common import BLOCK
from .._mixture import Mixture, diagonal_precisions_cholesky, full_precisions_cholesky
from .._stats import SufficientStats

name = "numba"

TASK_ROWS = 16 * BLOCK  # rows per task: fixed, so results never depend on the thread count
PARTIALS_BUDGET_BYTES = 4 << 20  # per call, for the tasks' partial statistics
MIN_TASKS_PER_THREAD = 4  # per call, so that threads finish a call close together


def _upper_factors(mixture: Mixture) -> np.ndarray:
    """U_k stacked (K, D, D), exactly zero below the diagonal (the kernels read whole tiles)."""
    return np.triu(full_precisions_cholesky(mixture))


def _no_weights():
    return np.empty(0)


def _weights_or_empty(sample_weight):
    if sample_weight is None:
        return _no_weights()
    return np.ascontiguousarray(sample_weight, dtype=np.float64)


def _rows_per_call(bytes_per_task: int) -> int:
    n_tasks = max(MIN_TASKS_PER_THREAD * numba.get_num_threads(),
                  PARTIALS_BUDGET_BYTES // max(bytes_per_task, 1))
    return n_tasks * TASK_ROWS


def accumulate(X, sample_weight, mixture: Mixture, stats: SufficientStats) -> None:
    """One fused E-step over X: add its log-likelihood and shifted sums to stats."""
    weights = _weights_or_empty(sample_weight)
    log_norm = mixture.log_norm()
    loglik = np.zeros(1)
    n_components, n_features = mixture.means.shape
    covariance_type = mixture.covariance_type
    if covariance_type in ("full", "tied"):
        prec_chol = _upper_factors(mixture)
        per_component = covariance_type == "full"
        second = stats.second if per_component else stats.second[None]
        scatter_shift = (
            stats.shift[0] if stats.scatter_shift is None else stats.scatter_shift
        )
        n_scatter = n_components if per_component else 1
        bytes_per_task = 8 * (n_components * (n_features + 1) + n_scatter * n_features**2)
    else:
        prec_chol = diagonal_precisions_cholesky(mixture)
        bytes_per_task = 8 * n_components * (2 * n_features + 1)
    if not np.array_equal(stats.shift, mixture.means):
        raise ValueError("the numba kernels take their sums about the current means")
    for rows in _calls(X.shape[0], bytes_per_task):
        chunk_weights = _rows_of(weights, rows)
        if covariance_type in ("full", "tied"):
            full.accumulate(
                X[rows], chunk_weights, mixture.means, prec_chol, log_norm,
                per_component, scatter_shift, TASK_ROWS,
                loglik, stats.resp_sum, stats.first, second,
            )
        else:
            diag.accumulate(
                X[rows], chunk_weights, mixture.means, prec_chol, log_norm,
                TASK_ROWS, loglik, stats.resp_sum, stats.first, stats.second,
            )
    if covariance_type in ("full", "tied"):
        # Diagonal tiles also sum a few entries below the diagonal: keep the upper triangle.
        stats.second[...] = np.triu(stats.second)
    stats.log_likelihood += float(loglik[0])
    stats.total_weight += float(X.shape[0] if sample_weight is None else weights.sum())


def weighted_log_prob(X, mixture: Mixture, out=None):
    """log(w_k N(x | μ_k, Σ_k)) for every row of X, shape (n, K), float64."""
    if out is None:
        out = np.empty((X.shape[0], mixture.n_components))
    if mixture.covariance_type in ("full", "tied"):
        full.weighted_log_prob(
            X, mixture.means, _upper_factors(mixture), mixture.log_norm(), out
        )
    else:
        diag.weighted_log_prob(
            X, mixture.means, diagonal_precisions_cholesky(mixture), mixture.log_norm(),
            out,
        )
    return out


# --- k-means primitives -------------------------------------------------------


def _calls(n_samples: int, bytes_per_task: int):
    rows_per_call = _rows_per_call(bytes_per_task)
    for start in range(0, n_samples, rows_per_call):
        yield slice(start, min(start + rows_per_call, n_samples))


def _rows_of(weights, rows):
    return weights if weights.shape[0] == 0 else weights[rows]


def update_closest(X, center, closest) -> None:
    center = np.ascontiguousarray(center, dtype=np.float64).reshape(1, -1)
    kmeans.update_closest(X, center, closest)


def candidate_potentials(X, sample_weight, closest, candidates):
    weights = _weights_or_empty(sample_weight)
    candidates = np.ascontiguousarray(candidates, dtype=np.float64)
    potentials = np.zeros(candidates.shape[0])
    for rows in _calls(X.shape[0], 8 * candidates.shape[0]):
        kmeans.candidate_potentials(
            X[rows], _rows_of(weights, rows), closest[rows], candidates, TASK_ROWS,
            potentials,
        )
    return potentials


def lloyd_step(X, sample_weight, centers):
    weights = _weights_or_empty(sample_weight)
    centers = np.ascontiguousarray(centers, dtype=np.float64)
    sums = np.zeros_like(centers)
    counts = np.zeros(centers.shape[0])
    inertia = np.zeros(1)
    for rows in _calls(X.shape[0], 8 * centers.shape[0] * (centers.shape[1] + 1)):
        kmeans.lloyd_step(
            X[rows], _rows_of(weights, rows), centers, TASK_ROWS, sums, counts, inertia
        )
    return sums, counts, float(inertia[0])


def assign_labels(X, centers):
    labels = np.empty(X.shape[0], dtype=np.intp)
    kmeans.assign_labels(X, np.ascontiguousarray(centers, dtype=np.float64), labels)
    return labels
