"""Initial mixtures: 'kmeans', 'k-means++', 'hc', 'random', 'random_from_data', user-given.

Each method yields responsibilities (hard or soft) from which one M-step gives
the initial weights, means and covariances, as in scikit-learn; the
responsibilities are never held for all rows at once.
"""

from __future__ import annotations

import numpy as np

from . import _kmeans
from ._mixture import (
    Mixture,
    covariances_from_cholesky,
    precisions_cholesky_from_precisions,
)
from ._mstep import m_step
from ._stats import SufficientStats
from .backends import numpy_backend

RESP_CHUNK_ROWS = 1 << 15
HC_SAMPLE_ROWS = 2000  # Ward's clustering holds O(n²) distances: a sample of rows when N is large


def hierarchical_labels(X, n_components, random_state):
    """(rows, labels): Ward's agglomerative clustering of up to HC_SAMPLE_ROWS rows of X.

    Ward's merge cost is the increase of the within-cluster sum of squares,
    which is the classification likelihood's for the spherical, equal-volume
    model (EII): the model-based hierarchical start of mclust with EII's
    criterion (mclust's default criterion is VVV's), computed by scipy.
    """
    from scipy.cluster.hierarchy import fcluster, ward

    n_rows = min(X.shape[0], HC_SAMPLE_ROWS)
    rows = (
        np.arange(X.shape[0])
        if n_rows == X.shape[0]
        else np.sort(random_state.choice(X.shape[0], n_rows, replace=False))
    )
    sample = np.asarray(X[rows], dtype=np.float64)
    labels = fcluster(ward(sample), n_components, criterion="maxclust") - 1
    return rows, labels


def _empty_stats(covariance_type, shift, scatter_shift):
    return SufficientStats.zeros(covariance_type, shift, scatter_shift)


def _stats_from_labels(X, sample_weight, labels, centers, covariance_type):
    """Statistics of hard assignments, each cluster's sums taken about its centre."""
    stats = _empty_stats(covariance_type, centers, centers.mean(axis=0))
    for start in range(0, X.shape[0], RESP_CHUNK_ROWS):
        rows = slice(start, min(start + RESP_CHUNK_ROWS, X.shape[0]))
        weights = None if sample_weight is None else sample_weight[rows]
        numpy_backend.stats_from_labels(X[rows], labels[rows], weights, stats)
    return stats


def _stats_from_random_resp(X, sample_weight, n_components, covariance_type, random_state):
    """scikit-learn's 'random': uniform responsibilities normalised per row.

    Drawn chunk by chunk from the same stream, so the numbers are the ones
    scikit-learn would draw for the whole (n, K) array at once. The sums are
    taken about the mean of the first rows, a centre inside the data.
    """
    centre = np.asarray(X[:RESP_CHUNK_ROWS], dtype=np.float64).mean(axis=0)
    shift = np.repeat(centre[None], n_components, axis=0)
    stats = _empty_stats(covariance_type, shift, centre)
    for start in range(0, X.shape[0], RESP_CHUNK_ROWS):
        rows = slice(start, min(start + RESP_CHUNK_ROWS, X.shape[0]))
        resp = random_state.uniform(size=(rows.stop - rows.start, n_components))
        resp /= resp.sum(axis=1)[:, None]
        weights = None if sample_weight is None else sample_weight[rows]
        numpy_backend.stats_from_resp(X[rows], resp, weights, stats)
    return stats


def _chosen_rows(X, sample_weight, n_components, random_state):
    """scikit-learn's 'random_from_data' draw (rows ∝ weight when weighted)."""
    n_samples = X.shape[0]
    if sample_weight is None:
        return random_state.choice(n_samples, size=n_components, replace=False)
    n_weighted = int(np.count_nonzero(sample_weight))
    if n_weighted < n_components:
        raise ValueError(
            f"init_params='random_from_data' draws n_components={n_components} distinct rows "
            f"with probability proportional to sample_weight, but only {n_weighted} row(s) "
            "have a nonzero weight: use init_params='kmeans', or fewer components."
        )
    probabilities = sample_weight / sample_weight.sum()
    return random_state.choice(n_samples, size=n_components, replace=False, p=probabilities)


def kmeans_labels(X, sample_weight, n_components, random_state, backend):
    """(centres, labels) of fastem's k-means: k-means++ seeds, then Lloyd iterations."""
    seeds, _ = _kmeans.kmeans_plusplus(X, sample_weight, n_components, random_state, backend)
    centers = _kmeans.lloyd(X, sample_weight, seeds, backend)
    return centers, backend.assign_labels(X, centers)


def stats_from_partition(X, sample_weight, labels, n_components, covariance_type):
    """Statistics of a hard partition, each part's sums about its own mean.

    An empty part is centred on the first row (its statistics are zero).
    """
    centers = np.stack(
        [
            np.asarray(X[labels == k], dtype=np.float64).mean(axis=0)
            if np.any(labels == k)
            else np.asarray(X[0], dtype=np.float64)
            for k in range(n_components)
        ]
    )
    return _stats_from_labels(X, sample_weight, labels, centers, covariance_type)


def initial_statistics(
    X, sample_weight, n_components, covariance_type, init_params, random_state, backend
) -> SufficientStats:
    """Sufficient statistics of the initial responsibilities of ``init_params``."""
    if init_params == "kmeans":
        centers, labels = kmeans_labels(X, sample_weight, n_components, random_state, backend)
        return _stats_from_labels(X, sample_weight, labels, centers, covariance_type)
    if init_params == "hc":
        rows, labels = hierarchical_labels(X, n_components, random_state)
        points = np.asarray(X[rows], dtype=np.float64)
        weights = None if sample_weight is None else sample_weight[rows]
        return stats_from_partition(points, weights, labels, n_components, covariance_type)
    if init_params == "random":
        return _stats_from_random_resp(
            X, sample_weight, n_components, covariance_type, random_state
        )
    if init_params == "k-means++":
        _, rows = _kmeans.kmeans_plusplus(X, sample_weight, n_components, random_state, backend)
    else:  # random_from_data
        rows = _chosen_rows(X, sample_weight, n_components, random_state)
    points = np.asarray(X[rows], dtype=np.float64)
    weights = None if sample_weight is None else sample_weight[rows]
    return _stats_from_labels(points, weights, np.arange(n_components), points, covariance_type)


def initial_mixture(
    X,
    sample_weight,
    *,
    n_components,
    model,
    init_params,
    reg_covar,
    weights_init,
    means_init,
    precisions_init,
    random_state,
    backend,
):
    """The starting mixture and its covariances, user-given parameters taking precedence.

    ``model`` is the covariance model (:mod:`fastem.covariance`); the
    statistics and user-given precisions are in its layout.
    """
    covariance_type = model.layout
    weights = means = prec_chol = covariances = None
    if weights_init is None or means_init is None or precisions_init is None:
        stats = initial_statistics(
            X,
            sample_weight,
            n_components,
            covariance_type,
            init_params,
            random_state,
            backend,
        )
        # One point per component ('random_from_data', 'k-means++') has no spread of its
        # own: a singular start is repaired at the scale of the data, not of the points.
        estimated, covariances, _ = m_step(
            stats, reg_covar, model, data_variance=_kmeans.variance_scale(X)
        )
        weights, means = estimated.weights, estimated.means
        prec_chol = estimated.precisions_cholesky
    if weights_init is not None:
        weights = np.array(weights_init, dtype=np.float64)
    if means_init is not None:
        means = np.array(means_init, dtype=np.float64)
    if precisions_init is not None:
        prec_chol = precisions_cholesky_from_precisions(precisions_init, covariance_type)
        covariances = covariances_from_cholesky(prec_chol, covariance_type)
    return Mixture(covariance_type, weights, means, prec_chol), covariances
