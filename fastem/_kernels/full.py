"""Full and tied covariance kernels: one fused E-step + sufficient-statistics pass.

Per block of rows (transposed, rows along SIMD lanes) and component k:

    d = x − μ_k                                  (centre first: never x·U − μ·U)
    y_j = Σ_{i≤j} d_i U_k[i, j]                  (U_k upper triangular)
    log(w_k N(x | k)) = log_norm_k − ½ Σ_j y_j²

then responsibilities by log-sum-exp over k, and the shifted sums about the
current means a_k = μ_k (upper triangle only; the M-step mirrors it):

    R_k += Σ w r_k,   S_k += Σ w r_k d,   C_k[i, j] += Σ w r_k d_i d_j   (full)
    T[i, j] += Σ w (x − c)_i (x − c)_j                                   (tied)
"""

import numpy as np
from numba import prange

from ._common import (
    BLOCK,
    add_partials,
    block_kernel,
    load_block,
    parallel_kernel,
    store_block,
)
from ._math import responsibilities_block


@block_kernel
def _triangular_column(diff, prec_chol_k, j, y):
    """y = Σ_{i≤j} diff_i U[i, j], four terms per pass over the lanes (one store per 4 FMAs)."""
    for b in range(BLOCK):
        y[b] = 0.0
    i = 0
    while i + 4 <= j + 1:
        u0 = prec_chol_k[i, j]
        u1 = prec_chol_k[i + 1, j]
        u2 = prec_chol_k[i + 2, j]
        u3 = prec_chol_k[i + 3, j]
        for b in range(BLOCK):
            y[b] += (diff[i, b] * u0 + diff[i + 1, b] * u1
                     + diff[i + 2, b] * u2 + diff[i + 3, b] * u3)
        i += 4
    while i <= j:
        u = prec_chol_k[i, j]
        for b in range(BLOCK):
            y[b] += diff[i, b] * u
        i += 1


@block_kernel
def _log_prob_block(xt, means, prec_chol, log_norm, diff, y, distance, log_prob):
    """log_prob[k, b] = log_norm_k − ½ ‖(x_b − μ_k) U_k‖² for one block."""
    n_components, n_features = means.shape
    for k in range(n_components):
        for d in range(n_features):
            mean = means[k, d]
            for b in range(BLOCK):
                diff[d, b] = xt[d, b] - mean
        for b in range(BLOCK):
            distance[b] = 0.0
        for j in range(n_features):
            _triangular_column(diff, prec_chol[k], j, y)
            for b in range(BLOCK):
                distance[b] += y[b] * y[b]
        for b in range(BLOCK):
            log_prob[k, b] = log_norm[k] - 0.5 * distance[b]


@block_kernel
def _scatter_upper(diff, weighted, second):
    """second[i, j] += Σ_b weighted[i, b] diff[j, b] for j ≥ i, two j per pass over the lanes."""
    n_features = diff.shape[0]
    for i in range(n_features):
        j = i
        while j + 2 <= n_features:
            acc0 = 0.0
            acc1 = 0.0
            for b in range(BLOCK):
                acc0 += weighted[i, b] * diff[j, b]
                acc1 += weighted[i, b] * diff[j + 1, b]
            second[i, j] += acc0
            second[i, j + 1] += acc1
            j += 2
        if j < n_features:
            acc = 0.0
            for b in range(BLOCK):
                acc += weighted[i, b] * diff[j, b]
            second[i, j] += acc


@block_kernel
def _centre(xt, centre, wr, diff, weighted):
    """diff = x − centre, weighted = wr · diff (per lane)."""
    for d in range(xt.shape[0]):
        c = centre[d]
        for b in range(BLOCK):
            diff[d, b] = xt[d, b] - c
            weighted[d, b] = wr[b] * diff[d, b]


@block_kernel
def _stats_block(xt, wt, means, resp, per_component, scatter_shift,
                 diff, weighted, resp_sum, first, second):
    """Add one block's shifted sums (see module docstring) to a task's partials."""
    n_components, n_features = means.shape
    for k in range(n_components):
        _centre(xt, means[k], resp[k], diff, weighted)
        acc = 0.0
        for b in range(BLOCK):
            acc += resp[k, b]
        resp_sum[k] += acc
        for d in range(n_features):
            acc = 0.0
            for b in range(BLOCK):
                acc += weighted[d, b]
            first[k, d] += acc
        if per_component:
            _scatter_upper(diff, weighted, second[k])
    if not per_component:
        _centre(xt, scatter_shift, wt, diff, weighted)
        _scatter_upper(diff, weighted, second[0])


@parallel_kernel
def accumulate(X, sample_weight, means, prec_chol, log_norm, per_component,
               scatter_shift, task_rows,
               out_loglik, out_resp_sum, out_first, out_second):
    """One fused E-step and statistics pass over the rows of X.

    X (n, D) float32/float64 IN; sample_weight (n,) or (0,) for unit weights IN;
    means (K, D), prec_chol (K, D, D), log_norm (K,) IN; per_component: full
    (True) or tied (False) scatter; scatter_shift (D,) the tied centre c IN;
    out_loglik (1,), out_resp_sum (K,), out_first (K, D), out_second
    (K or 1, D, D) INOUT: added to, in task order.
    """
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_tasks = (n_samples + task_rows - 1) // task_rows
    n_scatter = n_components if per_component else 1
    part_loglik = np.zeros(n_tasks)
    part_resp_sum = np.zeros((n_tasks, n_components))
    part_first = np.zeros((n_tasks, n_components, n_features))
    part_second = np.zeros((n_tasks, n_scatter, n_features, n_features))
    for t in prange(n_tasks):
        xt = np.empty((n_features, BLOCK))
        diff = np.empty((n_features, BLOCK))
        weighted = np.empty((n_features, BLOCK))
        log_prob = np.empty((n_components, BLOCK))
        wt = np.empty(BLOCK)
        lanes = np.empty((4, BLOCK))
        stop = min((t + 1) * task_rows, n_samples)
        for start in range(t * task_rows, stop, BLOCK):
            load_block(X, sample_weight, start, min(BLOCK, stop - start), xt, wt)
            _log_prob_block(xt, means, prec_chol, log_norm, diff, lanes[0], lanes[1],
                            log_prob)
            part_loglik[t] += responsibilities_block(log_prob, wt, lanes)
            _stats_block(xt, wt, means, log_prob, per_component, scatter_shift,
                         diff, weighted, part_resp_sum[t], part_first[t],
                         part_second[t])
    add_partials(part_loglik, part_resp_sum, part_first, part_second,
                 out_loglik, out_resp_sum, out_first, out_second)


@parallel_kernel
def weighted_log_prob(X, means, prec_chol, log_norm, out):
    """out[n, k] = log(w_k N(x_n | μ_k, Σ_k)) for every row (predict, score)."""
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    n_blocks = (n_samples + BLOCK - 1) // BLOCK
    no_weights = np.empty(0)
    for block in prange(n_blocks):
        xt = np.empty((n_features, BLOCK))
        diff = np.empty((n_features, BLOCK))
        log_prob = np.empty((n_components, BLOCK))
        wt = np.empty(BLOCK)
        lane_a = np.empty(BLOCK)
        lane_b = np.empty(BLOCK)
        start = block * BLOCK
        n_rows = min(BLOCK, n_samples - start)
        load_block(X, no_weights, start, n_rows, xt, wt)
        _log_prob_block(xt, means, prec_chol, log_norm, diff, lane_a, lane_b, log_prob)
        store_block(log_prob, start, n_rows, out)
