# cython: language_level=3
# (boundscheck, wraparound, initializedcheck and cdivision are set in setup.py)
"""Diagonal and spherical covariance kernels (spherical = diag with a repeated precision).

The port of :mod:`fastem._kernels.diag`. Per block of rows and component k,
with p_k = 1/σ_k the per-feature precision Cholesky factor:

    log(w_k N(x | k)) = log_norm_k − ½ Σ_d ((x_d − μ_kd) p_kd)²

then responsibilities, and the shifted sums about a_k = μ_k:

    R_k += Σ w r_k,   S_kd += Σ w r_k (x_d − μ_kd),   Q_kd += Σ w r_k (x_d − μ_kd)²
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free

from ._lanes cimport (
    BLOCK, Lanes, add_partials, lanes_alloc, load_block, log_prob_rows, responsibilities_block,
)
from ._openmp cimport current_threads


cdef void _log_prob_block(const double* xt, const double* means, const void* factors,
                          const double* log_norm, Py_ssize_t K, Py_ssize_t D,
                          Lanes* lanes) noexcept nogil:
    """log_prob[k, b] = log_norm_k − ½ Σ_d ((x_bd − μ_kd) p_kd)² for one block (double p)."""
    cdef const double* prec_chol = <const double*> factors
    cdef Py_ssize_t k, d, b
    cdef double mean, precision, z
    cdef double* out
    for k in range(K):
        out = lanes.log_prob + k * BLOCK
        for b in range(BLOCK):
            out[b] = 0.0
        for d in range(D):
            mean = means[k * D + d]
            precision = prec_chol[k * D + d]
            for b in range(BLOCK):
                z = (xt[d * BLOCK + b] - mean) * precision
                out[b] += z * z
        for b in range(BLOCK):
            out[b] = log_norm[k] - 0.5 * out[b]


cdef void _stats_block(const double* xt, const double* means, const double* resp,
                       Py_ssize_t K, Py_ssize_t D, double* resp_sum, double* first,
                       double* second) noexcept nogil:
    """Add one block's shifted sums to a task's partials."""
    cdef Py_ssize_t k, d, b
    cdef double acc, acc_first, acc_second, mean, diff, weighted
    cdef const double* r
    for k in range(K):
        r = resp + k * BLOCK
        acc = 0.0
        for b in range(BLOCK):
            acc += r[b]
        resp_sum[k] += acc
        for d in range(D):
            mean = means[k * D + d]
            acc_first = 0.0
            acc_second = 0.0
            for b in range(BLOCK):
                diff = xt[d * BLOCK + b] - mean
                weighted = r[b] * diff
                acc_first += weighted
                acc_second += weighted * diff
            first[k * D + d] += acc_first
            second[k * D + d] += acc_second


cdef void _accumulate_task(const floating* X, Py_ssize_t row_stride, Py_ssize_t col_stride,
                           const double* weights, Py_ssize_t start, Py_ssize_t stop,
                           const double* means, const double* prec_chol,
                           const double* log_norm, Py_ssize_t K, Py_ssize_t D, Lanes* lanes,
                           double* loglik, double* resp_sum, double* first,
                           double* second) noexcept nogil:
    cdef Py_ssize_t step, block
    for step in range((stop - start + BLOCK - 1) // BLOCK):
        block = start + step * BLOCK
        load_block(X, row_stride, col_stride, D, weights, block,
                   min(<Py_ssize_t> BLOCK, stop - block), lanes.xt, lanes.wt)
        _log_prob_block(lanes.xt, means, prec_chol, log_norm, K, D, lanes)
        loglik[0] += responsibilities_block(lanes.log_prob, K, lanes)
        _stats_block(lanes.xt, means, lanes.log_prob, K, D, resp_sum, first, second)


def accumulate(const floating[:, :] X, const double[::1] sample_weight,
               const double[:, ::1] means, const double[:, ::1] prec_chol,
               const double[::1] log_norm, Py_ssize_t task_rows, double[::1] out_loglik,
               double[::1] out_resp_sum, double[:, ::1] out_first, double[:, ::1] out_second):
    """One fused E-step and statistics pass over the rows of X (see the Numba kernel).

    X (n, D); sample_weight (n,) or (0,); means (K, D), prec_chol (K, D),
    log_norm (K,); out_loglik (1,), out_resp_sum (K,), out_first (K, D),
    out_second (K, D): added to, in task order.
    """
    cdef Py_ssize_t n_samples = X.shape[0], D = X.shape[1], K = means.shape[0]
    if n_samples == 0:
        return
    cdef Py_ssize_t n_tasks = (n_samples + task_rows - 1) // task_rows
    cdef double[::1] part_loglik = np.zeros(n_tasks)
    cdef double[:, ::1] part_resp_sum = np.zeros((n_tasks, K))
    cdef double[:, :, ::1] part_first = np.zeros((n_tasks, K, D))
    cdef double[:, :, ::1] part_second = np.zeros((n_tasks, K, D))
    cdef const floating* data = &X[0, 0]
    cdef Py_ssize_t row_stride = X.strides[0] // sizeof(floating)
    cdef Py_ssize_t col_stride = X.strides[1] // sizeof(floating)
    cdef const double* weights = &sample_weight[0] if sample_weight.shape[0] > 0 else NULL
    cdef Py_ssize_t t
    cdef Lanes lanes
    cdef int failed = 0
    cdef int* out_of_memory = &failed  # shared: a write through it reaches every thread
    with nogil, parallel(num_threads=current_threads()):
        lanes = lanes_alloc(D, K)
        # dynamic: on a shared server a thread slowed by another process does not hold
        # the call up. Each task writes its own partial: the bits do not depend on it.
        for t in prange(n_tasks, schedule="dynamic"):
            if lanes.xt == NULL:
                out_of_memory[0] = 1
            else:
                _accumulate_task(
                    data, row_stride, col_stride, weights, t * task_rows,
                    min((t + 1) * task_rows, n_samples), &means[0, 0], &prec_chol[0, 0],
                    &log_norm[0], K, D, &lanes, &part_loglik[t], &part_resp_sum[t, 0],
                    &part_first[t, 0, 0], &part_second[t, 0, 0],
                )
        free(lanes.xt)
    if failed:
        raise MemoryError("could not allocate the kernel's block buffers")
    add_partials(n_tasks, &part_loglik[0], &part_resp_sum[0, 0], K, &part_first[0, 0, 0],
                 K * D, &part_second[0, 0, 0], K * D, &out_loglik[0], &out_resp_sum[0],
                 &out_first[0, 0], &out_second[0, 0])


def weighted_log_prob(const floating[:, :] X, const double[:, ::1] means,
                      const double[:, ::1] prec_chol, const double[::1] log_norm,
                      double[:, ::1] out):
    """out[n, k] = log(w_k N(x_n | μ_k, Σ_k)) for every row (predict, score)."""
    cdef Py_ssize_t n_samples = X.shape[0]
    if n_samples == 0:
        return
    cdef bint done
    with nogil:
        done = log_prob_rows(&X[0, 0], X.strides[0] // sizeof(floating),
                             X.strides[1] // sizeof(floating), n_samples, X.shape[1],
                             _log_prob_block, &means[0, 0], &prec_chol[0, 0], &log_norm[0],
                             means.shape[0], &out[0, 0], current_threads())
    if not done:
        raise MemoryError("could not allocate the kernel's block buffers")
