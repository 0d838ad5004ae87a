"""Diagonal and spherical covariance kernels (spherical = diag with a repeated precision).

Per block of rows (transposed, rows along SIMD lanes) and component k, with
p_k = 1/σ_k the per-feature precision Cholesky factor:

    log(w_k N(x | k)) = log_norm_k − ½ Σ_d ((x_d − μ_kd) p_kd)²

then responsibilities, and the shifted sums about a_k = μ_k:

    R_k += Σ w r_k,   S_kd += Σ w r_k (x_d − μ_kd),   Q_kd += Σ w r_k (x_d − μ_kd)²
"""

import numpy as np
from numba import prange

from ._common import (
    BLOCK,
    BLOCKS_PER_TASK,
    add_partials,
    block_kernel,
    clear_partials,
    load_block,
    parallel_kernel,
    store_block,
    tasks_per_group,
)
from ._math import responsibilities_block


@block_kernel
def _log_prob_block(xt, means, prec_chol, log_norm, log_prob):
    """log_prob[k, b] = log_norm_k − ½ Σ_d ((x_bd − μ_kd) p_kd)² for one block."""
    n_components, n_features = means.shape
    for k in range(n_components):
        for b in range(BLOCK):
            log_prob[k, b] = 0.0
        for d in range(n_features):
            mean = means[k, d]
            precision = prec_chol[k, d]
            for b in range(BLOCK):
                z = (xt[d, b] - mean) * precision
                log_prob[k, b] += z * z
        for b in range(BLOCK):
            log_prob[k, b] = log_norm[k] - 0.5 * log_prob[k, b]


@block_kernel
def _stats_block(xt, means, resp, t, resp_sum, first, second):
    """Add one block's shifted sums to task t's partials."""
    n_components, n_features = means.shape
    for k in range(n_components):
        acc = 0.0
        for b in range(BLOCK):
            acc += resp[k, b]
        resp_sum[t, k] += acc
        for d in range(n_features):
            mean = means[k, d]
            acc_first = 0.0
            acc_second = 0.0
            for b in range(BLOCK):
                diff = xt[d, b] - mean
                weighted = resp[k, b] * diff
                acc_first += weighted
                acc_second += weighted * diff
            first[t, k, d] += acc_first
            second[t, k, d] += acc_second


@parallel_kernel
def accumulate(
    X,
    sample_weight,
    means,
    prec_chol,
    log_norm,
    task_rows,
    out_loglik,
    out_resp_sum,
    out_first,
    out_second,
):
    """One fused E-step and statistics pass over the rows of X.

    X (n, D) IN; sample_weight (n,) or (0,) IN; means (K, D), prec_chol (K, D),
    log_norm (K,) IN; out_loglik (1,), out_resp_sum (K,), out_first (K, D),
    out_second (K, D) INOUT: added to, in task order. Helpers take whole arrays
    and indices, never slices (see the full kernel).
    """
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_tasks = (n_samples + task_rows - 1) // task_rows
    part_loglik = np.empty(n_tasks)
    part_resp_sum = np.empty((n_tasks, n_components))
    part_first = np.empty((n_tasks, n_components, n_features))
    part_second = np.empty((n_tasks, n_components, n_features))
    group = tasks_per_group(n_tasks)
    for g in prange((n_tasks + group - 1) // group):  # scratch allocated once per group
        xt = np.empty((n_features, BLOCK))
        log_prob = np.empty((n_components, BLOCK))
        wt = np.empty(BLOCK)
        lanes = np.empty((3, BLOCK))
        for t in range(g * group, min((g + 1) * group, n_tasks)):
            clear_partials(t, part_loglik, part_resp_sum, part_first, part_second)
            stop = min((t + 1) * task_rows, n_samples)
            for start in range(t * task_rows, stop, BLOCK):
                load_block(X, sample_weight, start, min(BLOCK, stop - start), xt, wt)
                _log_prob_block(xt, means, prec_chol, log_norm, log_prob)
                part_loglik[t] += responsibilities_block(log_prob, wt, lanes)
                _stats_block(xt, means, log_prob, t, part_resp_sum, part_first, part_second)
    add_partials(
        part_loglik,
        part_resp_sum,
        part_first,
        part_second,
        out_loglik,
        out_resp_sum,
        out_first,
        out_second,
    )


@parallel_kernel
def weighted_log_prob(X, means, prec_chol, log_norm, out):
    """out[n, k] = log(w_k N(x_n | μ_k, Σ_k)) for every row (predict, score)."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_tasks = (n_samples + BLOCKS_PER_TASK * BLOCK - 1) // (BLOCKS_PER_TASK * BLOCK)
    no_weights = np.empty(0)
    for t in prange(n_tasks):
        xt = np.empty((n_features, BLOCK))
        log_prob = np.empty((n_components, BLOCK))
        wt = np.empty(BLOCK)
        stop = min((t + 1) * BLOCKS_PER_TASK * BLOCK, n_samples)
        for start in range(t * BLOCKS_PER_TASK * BLOCK, stop, BLOCK):
            n_rows = min(BLOCK, stop - start)
            load_block(X, no_weights, start, n_rows, xt, wt)
            _log_prob_block(xt, means, prec_chol, log_norm, log_prob)
            store_block(log_prob, start, n_rows, out)
