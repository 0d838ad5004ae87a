"""Seeded Gaussian-mixture data for examples, tests and benchmarks."""

from __future__ import annotations

import numpy as np


def random_covariance(rng: np.random.Generator, n_features: int, scale: float = 1.0):
    """A random SPD matrix: a random rotation of variances spread over a decade."""
    rotation, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
    variances = scale * 10.0 ** rng.uniform(-0.5, 0.5, size=n_features)
    return (rotation * variances) @ rotation.T


def make_mixture(
    n_samples: int,
    n_features: int,
    n_components: int,
    *,
    separation: float = 4.0,
    dtype=np.float64,
    random_state: int | None = 0,
    return_params: bool = False,
):
    """Draw rows from a random Gaussian mixture.

    Means are drawn from N(0, separation² I), covariances are random rotations
    of variances between 0.3 and 3, and weights come from a Dirichlet(5)
    draw, so components differ in size and some of them overlap.

    Parameters
    ----------
    n_samples, n_features, n_components : int
        Shape of the data and number of components of the mixture.
    separation : float, default=4.0
        Spread of the component means in units of the typical standard
        deviation; small values give heavily overlapping components.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Floating type of the returned data (drawn in float64, cast once).
    random_state : int or None, default=0
        Seed of the draw.
    return_params : bool, default=False
        Also return the true ``(weights, means, covariances)`` of the mixture.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The rows, shuffled.
    labels : ndarray of shape (n_samples,)
        The component each row was drawn from.
    params : tuple, optional
        ``(weights, means, covariances)`` when ``return_params`` is True.
    """
    rng = np.random.default_rng(random_state)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    means = rng.normal(scale=separation, size=(n_components, n_features))
    covariances = np.stack([random_covariance(rng, n_features) for _ in range(n_components)])
    labels = rng.choice(n_components, size=n_samples, p=weights)
    X = np.empty((n_samples, n_features), dtype=dtype)
    for k in range(n_components):
        members = labels == k
        factor = np.linalg.cholesky(covariances[k])
        noise = rng.standard_normal(size=(int(members.sum()), n_features))
        X[members] = means[k] + noise @ factor.T
    if return_params:
        return X, labels, (weights, means, covariances)
    return X, labels
