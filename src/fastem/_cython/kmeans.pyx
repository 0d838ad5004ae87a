# cython: language_level=3
# (boundscheck, wraparound, initializedcheck and cdivision are set in setup.py)
"""k-means kernels for the initialisation (the port of :mod:`fastem._kernels.kmeans`).

Distances are taken on differences, ‖x − c‖² = Σ_d (x_d − c_d)², never by the
expansion ‖x‖² − 2x·c + ‖c‖². Sums over rows use fixed tasks reduced in order.
"""

import numpy as np

from cython cimport floating
from cython.parallel cimport prange

from ._openmp cimport current_threads


cdef inline double _squared_distance(const floating* X, Py_ssize_t row_stride,
                                     Py_ssize_t col_stride, Py_ssize_t row,
                                     const double* center, Py_ssize_t D) noexcept nogil:
    """‖x_row − c‖²."""
    cdef Py_ssize_t d
    cdef double diff, acc = 0.0
    for d in range(D):
        diff = X[row * row_stride + d * col_stride] - center[d]
        acc += diff * diff
    return acc


cdef inline Py_ssize_t _nearest(const floating* X, Py_ssize_t row_stride,
                                Py_ssize_t col_stride, Py_ssize_t row, const double* centers,
                                Py_ssize_t n_clusters, Py_ssize_t D,
                                double* best_distance) noexcept nogil:
    """The index of the centre nearest to x_row; its squared distance in best_distance."""
    cdef Py_ssize_t j, best = 0
    cdef double distance
    best_distance[0] = _squared_distance(X, row_stride, col_stride, row, centers, D)
    for j in range(1, n_clusters):
        distance = _squared_distance(X, row_stride, col_stride, row, centers + j * D, D)
        if distance < best_distance[0]:
            best = j
            best_distance[0] = distance
    return best


def update_closest(const floating[:, :] X, const double[:, ::1] center, double[::1] closest):
    """closest[n] ← min(closest[n], ‖x_n − center‖²); center of shape (1, D)."""
    cdef Py_ssize_t n_samples = X.shape[0], D = X.shape[1], row
    if n_samples == 0:
        return
    cdef const floating* data = &X[0, 0]
    cdef Py_ssize_t row_stride = X.strides[0] // sizeof(floating)
    cdef Py_ssize_t col_stride = X.strides[1] // sizeof(floating)
    cdef double distance
    for row in prange(n_samples, nogil=True, schedule="static",
                      num_threads=current_threads()):
        distance = _squared_distance(data, row_stride, col_stride, row, &center[0, 0], D)
        if distance < closest[row]:
            closest[row] = distance


cdef void _potentials_task(const floating* X, Py_ssize_t row_stride, Py_ssize_t col_stride,
                           const double* weights, const double* closest, Py_ssize_t start,
                           Py_ssize_t stop, const double* candidates, Py_ssize_t n_candidates,
                           Py_ssize_t D, double* partial) noexcept nogil:
    cdef Py_ssize_t row, c
    cdef double weight, distance
    for row in range(start, stop):
        weight = 1.0 if weights == NULL else weights[row]
        for c in range(n_candidates):
            distance = _squared_distance(X, row_stride, col_stride, row, candidates + c * D, D)
            partial[c] += weight * (distance if distance < closest[row] else closest[row])


def candidate_potentials(const floating[:, :] X, const double[::1] sample_weight,
                         const double[::1] closest, const double[:, ::1] candidates,
                         Py_ssize_t task_rows, double[::1] out):
    """out[c] += Σ_n w_n min(closest_n, ‖x_n − c‖²) for each candidate centre c."""
    cdef Py_ssize_t n_samples = X.shape[0], D = X.shape[1], n_candidates = candidates.shape[0]
    if n_samples == 0:
        return
    cdef Py_ssize_t n_tasks = (n_samples + task_rows - 1) // task_rows, t, c
    cdef double[:, ::1] partial = np.zeros((n_tasks, n_candidates))
    cdef const floating* data = &X[0, 0]
    cdef Py_ssize_t row_stride = X.strides[0] // sizeof(floating)
    cdef Py_ssize_t col_stride = X.strides[1] // sizeof(floating)
    cdef const double* weights = &sample_weight[0] if sample_weight.shape[0] > 0 else NULL
    for t in prange(n_tasks, nogil=True, schedule="static", num_threads=current_threads()):
        _potentials_task(data, row_stride, col_stride, weights, &closest[0], t * task_rows,
                         min((t + 1) * task_rows, n_samples), &candidates[0, 0],
                         n_candidates, D, &partial[t, 0])
    for t in range(n_tasks):
        for c in range(n_candidates):
            out[c] += partial[t, c]


cdef void _lloyd_task(const floating* X, Py_ssize_t row_stride, Py_ssize_t col_stride,
                      const double* weights, Py_ssize_t start, Py_ssize_t stop,
                      const double* centers, Py_ssize_t n_clusters, Py_ssize_t D,
                      double* sums, double* counts, double* inertia) noexcept nogil:
    cdef Py_ssize_t row, j, d
    cdef double weight, distance
    for row in range(start, stop):
        weight = 1.0 if weights == NULL else weights[row]
        j = _nearest(X, row_stride, col_stride, row, centers, n_clusters, D, &distance)
        counts[j] += weight
        inertia[0] += weight * distance
        for d in range(D):
            sums[j * D + d] += weight * (X[row * row_stride + d * col_stride] - centers[j * D + d])


def lloyd_step(const floating[:, :] X, const double[::1] sample_weight,
               const double[:, ::1] centers, Py_ssize_t task_rows, double[:, ::1] out_sums,
               double[::1] out_counts, double[::1] out_inertia):
    """Assign rows to the nearest centre c_j; add Σ w (x − c_j), Σ w and Σ w ‖x − c_j‖²."""
    cdef Py_ssize_t n_samples = X.shape[0], D = X.shape[1], n_clusters = centers.shape[0]
    if n_samples == 0:
        return
    cdef Py_ssize_t n_tasks = (n_samples + task_rows - 1) // task_rows, t, j, d
    cdef double[:, :, ::1] part_sums = np.zeros((n_tasks, n_clusters, D))
    cdef double[:, ::1] part_counts = np.zeros((n_tasks, n_clusters))
    cdef double[::1] part_inertia = np.zeros(n_tasks)
    cdef const floating* data = &X[0, 0]
    cdef Py_ssize_t row_stride = X.strides[0] // sizeof(floating)
    cdef Py_ssize_t col_stride = X.strides[1] // sizeof(floating)
    cdef const double* weights = &sample_weight[0] if sample_weight.shape[0] > 0 else NULL
    for t in prange(n_tasks, nogil=True, schedule="static", num_threads=current_threads()):
        _lloyd_task(data, row_stride, col_stride, weights, t * task_rows,
                    min((t + 1) * task_rows, n_samples), &centers[0, 0], n_clusters, D,
                    &part_sums[t, 0, 0], &part_counts[t, 0], &part_inertia[t])
    for t in range(n_tasks):
        for j in range(n_clusters):
            out_counts[j] += part_counts[t, j]
            for d in range(D):
                out_sums[j, d] += part_sums[t, j, d]
        out_inertia[0] += part_inertia[t]


def assign_labels(const floating[:, :] X, const double[:, ::1] centers, Py_ssize_t[::1] labels):
    """labels[n] = index of the centre nearest to x_n."""
    cdef Py_ssize_t n_samples = X.shape[0], D = X.shape[1], n_clusters = centers.shape[0], row
    if n_samples == 0:
        return
    cdef const floating* data = &X[0, 0]
    cdef Py_ssize_t row_stride = X.strides[0] // sizeof(floating)
    cdef Py_ssize_t col_stride = X.strides[1] // sizeof(floating)
    cdef double distance
    for row in prange(n_samples, nogil=True, schedule="static",
                      num_threads=current_threads()):
        labels[row] = _nearest(data, row_stride, col_stride, row, &centers[0, 0], n_clusters,
                               D, &distance)
