"""k-means kernels for the initialisation: k-means++ seeding and Lloyd steps.

Distances are computed on differences, ‖x − c‖² = Σ_d (x_d − c_d)², never by
the expansion ‖x‖² − 2x·c + ‖c‖², which loses digits for data far from 0.
Sums over rows use fixed tasks reduced in order, as the EM kernels do.
"""

import numpy as np
from numba import prange

from ._common import block_kernel, parallel_kernel


@block_kernel
def _squared_distance(X, row, centers, j):
    """‖x_row − c_j‖² (whole arrays and indices: a slice costs an atomic reference count)."""
    acc = 0.0
    for d in range(X.shape[1]):
        diff = X[row, d] - centers[j, d]
        acc += diff * diff
    return acc


@parallel_kernel
def update_closest(X, center, closest):
    """closest[n] ← min(closest[n], ‖x_n − center‖²); center of shape (1, D)."""
    for row in prange(X.shape[0]):
        closest[row] = min(closest[row], _squared_distance(X, row, center, 0))


@parallel_kernel
def candidate_potentials(X, sample_weight, closest, candidates, task_rows, out):
    """out[c] += Σ_n w_n min(closest_n, ‖x_n − c‖²) for each candidate centre c."""
    n_samples = X.shape[0]
    n_candidates = candidates.shape[0]
    n_tasks = (n_samples + task_rows - 1) // task_rows
    partial = np.zeros((n_tasks, n_candidates))
    unweighted = sample_weight.shape[0] == 0
    for t in prange(n_tasks):
        for row in range(t * task_rows, min((t + 1) * task_rows, n_samples)):
            weight = 1.0 if unweighted else sample_weight[row]
            for c in range(n_candidates):
                distance = min(closest[row], _squared_distance(X, row, candidates, c))
                partial[t, c] += weight * distance
    for t in range(n_tasks):
        out += partial[t]


@block_kernel
def _nearest(X, row, centers):
    best = 0
    best_distance = np.inf
    for j in range(centers.shape[0]):
        distance = _squared_distance(X, row, centers, j)
        if distance < best_distance:
            best = j
            best_distance = distance
    return best, best_distance


@parallel_kernel
def lloyd_step(X, sample_weight, centers, task_rows, out_sums, out_counts, out_inertia):
    """Assign rows to the nearest centre c_j; add Σ w (x − c_j), Σ w and Σ w ‖x − c_j‖²."""
    n_samples, n_features = X.shape
    n_clusters = centers.shape[0]
    n_tasks = (n_samples + task_rows - 1) // task_rows
    part_sums = np.zeros((n_tasks, n_clusters, n_features))
    part_counts = np.zeros((n_tasks, n_clusters))
    part_inertia = np.zeros(n_tasks)
    unweighted = sample_weight.shape[0] == 0
    for t in prange(n_tasks):
        for row in range(t * task_rows, min((t + 1) * task_rows, n_samples)):
            weight = 1.0 if unweighted else sample_weight[row]
            j, distance = _nearest(X, row, centers)
            part_counts[t, j] += weight
            part_inertia[t] += weight * distance
            for d in range(n_features):
                part_sums[t, j, d] += weight * (X[row, d] - centers[j, d])
    for t in range(n_tasks):
        out_sums += part_sums[t]
        out_counts += part_counts[t]
        out_inertia[0] += part_inertia[t]


@parallel_kernel
def assign_labels(X, centers, labels):
    """labels[n] = index of the centre nearest to x_n."""
    for row in prange(X.shape[0]):
        labels[row] = _nearest(X, row, centers)[0]
