"""Reference backend: plain NumPy, written to be read, and the truth the kernels are tested against.

It computes exactly what the compiled backends compute, one chunk of rows at a
time (so it, too, never holds more than a chunk's N×K responsibilities):

    log(w_k N(x | k)) = log w_k + log det U_k − D/2 log 2π − ½ ‖(x − μ_k) U_k‖²
    r_nk = exp(log(w_k N(x_n | k)) − logsumexp_k(...))

followed by the shifted sums of :mod:`fastem._stats`. For full and tied
covariances, y = (x − μ_k) U_k is computed in the data's precision (float32 for
float32 rows: x − μ_k rounded to float32, times U_k rounded to float32); ‖y‖²
and everything after it in float64.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from .._data import working_dtype
from .._mixture import Mixture
from .._stats import SufficientStats

name = "numpy"

CHUNK_BYTES = 1 << 24  # rows per chunk are chosen so that a chunk's temporaries stay near 16 MiB


def prepare(families, dtype) -> None:
    """Nothing to compile: the compiled backends' step before a fit."""


def _chunk_rows(n_features: int, n_components: int) -> int:
    per_row = 8 * (n_features * 2 + n_components * 2)
    return max(1, CHUNK_BYTES // per_row)


def _chunks(n_samples, n_rows):
    for start in range(0, n_samples, n_rows):
        yield slice(start, min(start + n_rows, n_samples))


def _weights_of(sample_weight, rows, n_rows):
    if sample_weight is None:
        return np.ones(n_rows)
    return np.asarray(sample_weight[rows], dtype=np.float64)


def _squared_mahalanobis(X, mixture: Mixture, precision):
    """‖(x − μ_k) U_k‖² for each row and component, shape (n, K), float64.

    X is float64; for full and tied covariances y = (x − μ_k) U_k is rounded to
    ``precision`` (d and U first, then the product in that precision).
    """
    n_samples = X.shape[0]
    means, prec_chol = mixture.means, mixture.precisions_cholesky
    distances = np.empty((n_samples, mixture.n_components))
    for k in range(mixture.n_components):
        centred = X - means[k]
        if mixture.covariance_type in ("full", "tied"):
            factor = prec_chol[k] if mixture.covariance_type == "full" else prec_chol
            y = centred.astype(precision) @ factor.astype(precision)
            distances[:, k] = np.sum(y.astype(np.float64) ** 2, axis=1)
        elif mixture.covariance_type == "diag":
            distances[:, k] = np.sum((centred * prec_chol[k]) ** 2, axis=1)
        else:
            distances[:, k] = np.sum(centred**2, axis=1) * prec_chol[k] ** 2
    return distances


def _log_prob(X, mixture: Mixture, precision):
    """log(w_k N(x | μ_k, Σ_k)) of float64 rows X, distances in ``precision``."""
    return mixture.log_norm() - 0.5 * _squared_mahalanobis(X, mixture, precision)


def weighted_log_prob(X, mixture: Mixture, out=None):
    """log(w_k N(x | μ_k, Σ_k)) for every row of X, shape (n, K), float64."""
    X = np.asarray(X)
    result = _log_prob(np.asarray(X, dtype=np.float64), mixture, working_dtype(X.dtype))
    if out is None:
        return result
    out[...] = result
    return out


def stats_from_resp(X, resp, sample_weight, stats: SufficientStats) -> None:
    """Add the shifted sums of rows X with responsibilities resp (n, K) to stats."""
    X = np.asarray(X, dtype=np.float64)
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    weighted_resp = resp * weights[:, None]
    stats.resp_sum += weighted_resp.sum(axis=0)
    covariance_type = stats.covariance_type
    for k in range(stats.shift.shape[0]):
        centred = X - stats.shift[k]
        weighted = centred * weighted_resp[:, k, None]
        stats.first[k] += weighted.sum(axis=0)
        if covariance_type == "full":
            stats.second[k] += np.triu(weighted.T @ centred)
        elif covariance_type in ("diag", "spherical"):
            stats.second[k] += np.sum(weighted * centred, axis=0)
    if covariance_type == "tied":
        centred = X - stats.scatter_shift
        stats.second += np.triu((centred * weights[:, None]).T @ centred)


def stats_from_labels(X, labels, sample_weight, stats: SufficientStats) -> None:
    """Add the shifted sums of rows X hard-assigned to components ``labels`` to stats."""
    for k in np.unique(labels):
        members = labels == k
        centred = np.asarray(X[members], dtype=np.float64) - stats.shift[k]
        weights = np.ones(centred.shape[0]) if sample_weight is None else sample_weight[members]
        weighted = centred * weights[:, None]
        stats.resp_sum[k] += weights.sum()
        stats.first[k] += weighted.sum(axis=0)
        if stats.covariance_type == "full":
            stats.second[k] += np.triu(weighted.T @ centred)
        elif stats.covariance_type in ("diag", "spherical"):
            stats.second[k] += np.sum(weighted * centred, axis=0)
        else:
            about_centre = np.asarray(X[members], dtype=np.float64) - stats.scatter_shift
            stats.second += np.triu((about_centre * weights[:, None]).T @ about_centre)


def accumulate(X, sample_weight, mixture: Mixture, stats: SufficientStats) -> None:
    """One E-step over X: add its log-likelihood and shifted sums to stats."""
    n_samples = X.shape[0]
    for rows in _chunks(n_samples, _chunk_rows(X.shape[1], mixture.n_components)):
        chunk = np.asarray(X[rows], dtype=np.float64)
        weights = _weights_of(sample_weight, rows, chunk.shape[0])
        log_prob = _log_prob(chunk, mixture, working_dtype(X.dtype))
        log_prob_norm = logsumexp(log_prob, axis=1)
        resp = np.exp(log_prob - log_prob_norm[:, None])
        stats.total_weight += float(weights.sum())
        stats.log_likelihood += float(weights @ log_prob_norm)
        stats_from_resp(chunk, resp, weights, stats)


# --- k-means primitives -------------------------------------------------------


def _squared_distances(X, centers):
    """‖x − c_j‖² for each row and centre, computed on differences (no expansion)."""
    X = np.asarray(X, dtype=np.float64)
    return np.stack([np.sum((X - c) ** 2, axis=1) for c in centers], axis=1)


def update_closest(X, center, closest) -> None:
    """closest ← min(closest, ‖x − center‖²), in place."""
    for rows in _chunks(X.shape[0], _chunk_rows(X.shape[1], 1)):
        distances = _squared_distances(X[rows], center[None])[:, 0]
        np.minimum(closest[rows], distances, out=closest[rows])


def candidate_potentials(X, sample_weight, closest, candidates):
    """Σ w · min(closest, ‖x − c‖²) for each candidate centre c."""
    potentials = np.zeros(candidates.shape[0])
    for rows in _chunks(X.shape[0], _chunk_rows(X.shape[1], candidates.shape[0])):
        weights = _weights_of(sample_weight, rows, rows.stop - rows.start)
        distances = np.minimum(_squared_distances(X[rows], candidates), closest[rows, None])
        potentials += weights @ distances
    return potentials


def lloyd_step(X, sample_weight, centers):
    """Assign rows to their nearest centre; return Σ w (x − c), Σ w and inertia."""
    n_clusters, n_features = centers.shape
    sums = np.zeros((n_clusters, n_features))
    counts = np.zeros(n_clusters)
    inertia = 0.0
    for rows in _chunks(X.shape[0], _chunk_rows(n_features, n_clusters)):
        chunk = np.asarray(X[rows], dtype=np.float64)
        weights = _weights_of(sample_weight, rows, chunk.shape[0])
        distances = _squared_distances(chunk, centers)
        labels = np.argmin(distances, axis=1)
        inertia += float(weights @ distances[np.arange(chunk.shape[0]), labels])
        counts += np.bincount(labels, weights=weights, minlength=n_clusters)
        for j in range(n_clusters):
            members = labels == j
            sums[j] += weights[members] @ (chunk[members] - centers[j])
    return sums, counts, inertia


def assign_labels(X, centers):
    """Index of the nearest centre for each row."""
    labels = np.empty(X.shape[0], dtype=np.intp)
    for rows in _chunks(X.shape[0], _chunk_rows(X.shape[1], centers.shape[0])):
        labels[rows] = np.argmin(_squared_distances(X[rows], centers), axis=1)
    return labels
