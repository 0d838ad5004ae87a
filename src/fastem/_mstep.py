"""The M-step: mixture parameters from shifted sufficient statistics.

With R_k = Σ w r_nk, n_k = R_k + 10ε (scikit-learn's guard against empty
components), S_k = Σ w r_nk (x − a_k) and C_k = Σ w r_nk (x − a_k)(x − a_k)ᵀ
taken about a centre a_k, the new mean is μ_k = a_k + δ_k with δ_k = S_k / n_k,
and the scatter about it follows from moving the centre by d:

    Σ w r (x − a − d)(x − a − d)ᵀ = C − S dᵀ − d Sᵀ + R d dᵀ.

Because a_k is the previous mean, δ_k is small and nothing cancels
catastrophically, whatever the offset of the data.
"""

from __future__ import annotations

import numpy as np

from ._mixture import Mixture, precisions_cholesky_from_covariances
from ._recovery import repair_covariances
from ._stats import SufficientStats, moved_scatter, symmetric_from_upper

EMPTY_COMPONENT_GUARD = 10 * np.finfo(np.float64).eps


def _full_covariances(stats, nk, delta, reg_covar):
    scatter = moved_scatter(symmetric_from_upper(stats.second), stats.first, stats.resp_sum, delta)
    covariances = scatter / nk[:, None, None]
    covariances += reg_covar * np.eye(stats.shift.shape[1])
    return covariances


def _tied_covariance(stats, nk, means, reg_covar):
    # Σ_k Σ_n w r (x − μ_k)(x − μ_k)ᵀ = T − Σ_k (S'_k d_kᵀ + d_k S'_kᵀ − R_k d_k d_kᵀ),
    # T the total scatter about c, d_k = μ_k − c, S'_k = S_k + R_k (a_k − c).
    centre = stats.scatter_shift
    first_about_centre = stats.first + stats.resp_sum[:, None] * (stats.shift - centre)
    move = means - centre
    cross = first_about_centre.T @ move
    between = cross + cross.T - (move * stats.resp_sum[:, None]).T @ move
    covariance = (symmetric_from_upper(stats.second) - between) / nk.sum()
    covariance += reg_covar * np.eye(stats.shift.shape[1])
    return covariance


def _diag_covariances(stats, nk, delta, reg_covar):
    # Σ w r (x − a − δ)² = Q − 2 S δ + R δ²
    squares = (
        stats.second - 2.0 * stats.first * delta + stats.resp_sum[:, None] * delta**2
    )
    return squares / nk[:, None] + reg_covar


def estimate_covariances(stats: SufficientStats, reg_covar: float):
    """Weights, means and covariances (scikit-learn's layouts) from statistics."""
    nk = stats.resp_sum + EMPTY_COMPONENT_GUARD
    delta = stats.first / nk[:, None]
    means = stats.shift + delta
    covariance_type = stats.covariance_type
    if covariance_type == "full":
        covariances = _full_covariances(stats, nk, delta, reg_covar)
    elif covariance_type == "tied":
        covariances = _tied_covariance(stats, nk, means, reg_covar)
    else:
        covariances = _diag_covariances(stats, nk, delta, reg_covar)
        if covariance_type == "spherical":
            covariances = covariances.mean(axis=1)
    weights = nk / nk.sum()
    return weights, means, covariances


def m_step(stats: SufficientStats, reg_covar: float, data_variance: float | None = None):
    """The next mixture, its covariances, and whether a singular component was repaired.

    ``data_variance`` is the scale a singular component is repaired at when
    the mixture itself has no spread (see :func:`~fastem._recovery.repair_covariances`).
    """
    weights, means, covariances = estimate_covariances(stats, reg_covar)
    try:
        prec_chol = precisions_cholesky_from_covariances(covariances, stats.covariance_type)
        repaired = False
    except ValueError:  # a singular component: repair it, or re-raise if none is found
        covariances, repaired = repair_covariances(covariances, weights, means,
                                                   stats.covariance_type, data_variance)
        prec_chol = precisions_cholesky_from_covariances(covariances, stats.covariance_type)
    mixture = Mixture(stats.covariance_type, weights, means, prec_chol)
    return mixture, covariances, repaired
