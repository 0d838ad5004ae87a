"""k-means for the initialisation: greedy k-means++ seeding, then Lloyd iterations.

The loops over the data run in the backend's kernels; this module holds the
algorithm. All random numbers come from one ``numpy.random.RandomState``, so a
seed gives the same centres whatever the backend or the number of threads.
"""

from __future__ import annotations

import numpy as np

SAMPLING_CHUNK_ROWS = 1 << 16


def _weighted_potential(closest, sample_weight) -> float:
    return float(closest.sum() if sample_weight is None else closest @ sample_weight)


def _sample_by_potential(closest, sample_weight, targets) -> np.ndarray:
    """Rows n whose cumulative Σ w·closest first reaches each target (inverse CDF).

    The cumulative sum is taken one chunk at a time, so no second N-sized
    array is made.
    """
    n_samples = closest.shape[0]
    order = np.argsort(targets)
    picked = np.full(targets.shape[0], n_samples - 1, dtype=np.intp)
    running = 0.0
    next_target = 0
    for start in range(0, n_samples, SAMPLING_CHUNK_ROWS):
        stop = min(start + SAMPLING_CHUNK_ROWS, n_samples)
        mass = closest[start:stop]
        if sample_weight is not None:
            mass = mass * sample_weight[start:stop]
        cumulative = running + np.cumsum(mass)
        while next_target < targets.shape[0]:
            target = targets[order[next_target]]
            if target > cumulative[-1]:
                break
            picked[order[next_target]] = start + np.searchsorted(cumulative, target)
            next_target += 1
        running = cumulative[-1]
    return picked


def kmeans_plusplus(X, sample_weight, n_clusters: int, random_state, backend):
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, as scikit-learn does it).

    Each new centre is the best of ``2 + log(k)`` candidates drawn with
    probability ∝ w·D(x)², D the distance to the nearest centre so far.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    indices : ndarray of shape (n_clusters,), the rows chosen as centres
    """
    n_samples, n_features = X.shape
    n_local_trials = 2 + int(np.log(n_clusters))
    centers = np.empty((n_clusters, n_features))
    indices = np.empty(n_clusters, dtype=np.intp)
    if sample_weight is None:
        first = random_state.randint(n_samples)
    else:
        first = random_state.choice(n_samples, p=sample_weight / sample_weight.sum())
    indices[0] = first
    centers[0] = X[first]
    closest = np.full(n_samples, np.inf)
    backend.update_closest(X, centers[0], closest)
    for c in range(1, n_clusters):
        potential = _weighted_potential(closest, sample_weight)
        targets = random_state.uniform(size=n_local_trials) * potential
        candidate_ids = _sample_by_potential(closest, sample_weight, targets)
        candidates = np.asarray(X[candidate_ids], dtype=np.float64)
        potentials = backend.candidate_potentials(X, sample_weight, closest, candidates)
        best = int(np.argmin(potentials))
        indices[c] = candidate_ids[best]
        centers[c] = candidates[best]
        backend.update_closest(X, centers[c], closest)
    return centers, indices


def variance_scale(X, sample_size: int = 10_000) -> float:
    """Mean per-feature variance of (the first rows of) X: the scale of ``tol``."""
    head = np.asarray(X[:sample_size], dtype=np.float64)
    return float(np.mean(np.var(head, axis=0)))


def lloyd(X, sample_weight, centers, backend, max_iter: int = 100, tol: float = 1e-4):
    """Lloyd iterations from ``centers`` until the centres move less than tol·variance.

    An empty cluster keeps its centre.
    """
    centers = np.array(centers, dtype=np.float64)
    tolerance = tol * variance_scale(X)
    for _ in range(max_iter):
        sums, counts, _ = backend.lloyd_step(X, sample_weight, centers)
        moves = np.zeros_like(centers)
        filled = counts > 0
        moves[filled] = sums[filled] / counts[filled, None]
        centers += moves
        if np.sum(moves**2) <= tolerance:
            break
    return centers
