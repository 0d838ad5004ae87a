"""The M-step: mixture parameters from shifted sufficient statistics.

The weights and means are the same for every covariance model; the scatter
matrices about the new means are formed here, in the layout of the model, and
the model (:mod:`fastem.covariance`) turns them into covariances.

With R_k = Σ w r_nk, n_k = R_k + 10ε (scikit-learn's guard against empty
components), S_k = Σ w r_nk (x − a_k) and C_k = Σ w r_nk (x − a_k)(x − a_k)ᵀ
taken about a centre a_k, the new mean is μ_k = a_k + δ_k with δ_k = S_k / n_k,
and the scatter about it follows from moving the centre by d:

    Σ w r (x − a − d)(x − a − d)ᵀ = C − S dᵀ − d Sᵀ + R d dᵀ.

Because a_k is the previous mean, δ_k is small and nothing cancels
catastrophically, whatever the offset of the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._mixture import Mixture, precisions_cholesky_from_covariances
from ._recovery import repair_covariances
from ._stats import SufficientStats, moved_scatter, symmetric_from_upper
from .covariance import CovarianceModel

EMPTY_COMPONENT_GUARD = 10 * np.finfo(np.float64).eps


def _full_scatter(stats, nk, delta, reg_covar):
    # W_k = C_k − S_k δ_kᵀ − δ_k S_kᵀ + R_k δ_k δ_kᵀ, plus n_k · reg_covar on the diagonal
    scatter = moved_scatter(symmetric_from_upper(stats.second), stats.first, stats.resp_sum, delta)
    scatter += (reg_covar * nk)[:, None, None] * np.eye(stats.shift.shape[1])
    return scatter


def _pooled_scatter(stats, nk, means, reg_covar):
    # Σ_k Σ_n w r (x − μ_k)(x − μ_k)ᵀ = T − Σ_k (S'_k d_kᵀ + d_k S'_kᵀ − R_k d_k d_kᵀ),
    # T the total scatter about c, d_k = μ_k − c, S'_k = S_k + R_k (a_k − c).
    centre = stats.scatter_shift
    first_about_centre = stats.first + stats.resp_sum[:, None] * (stats.shift - centre)
    move = means - centre
    cross = first_about_centre.T @ move
    between = cross + cross.T - (move * stats.resp_sum[:, None]).T @ move
    scatter = symmetric_from_upper(stats.second) - between
    scatter += reg_covar * nk.sum() * np.eye(stats.shift.shape[1])
    return scatter


def _diagonal_scatter(stats, nk, delta, reg_covar):
    # Σ w r (x − a − δ)² = Q − 2 S δ + R δ², plus n_k · reg_covar
    squares = stats.second - 2.0 * stats.first * delta + stats.resp_sum[:, None] * delta**2
    return squares + (reg_covar * nk)[:, None]


def scatter_in_layout(stats: SufficientStats, nk, delta, means, reg_covar: float):
    """Each component's scatter about its new mean, in the form the layout's models take.

    See :mod:`fastem.covariance._base`: (K, D, D) full, (D, D) pooled for
    tied, (K, D) diagonals for diag and spherical; ``reg_covar`` · n_k is
    added to every diagonal, so that a covariance W_k / n_k gains ``reg_covar``
    as in scikit-learn.
    """
    layout = stats.covariance_type
    if layout == "full":
        return _full_scatter(stats, nk, delta, reg_covar)
    if layout == "tied":
        return _pooled_scatter(stats, nk, means, reg_covar)
    return _diagonal_scatter(stats, nk, delta, reg_covar)


@dataclass(frozen=True)
class FixedParameters:
    """Parameters held at known values during EM (None: estimated).

    Fixed means are what the scatter is taken about; fixed covariances are
    in the model's layout.
    """

    weights: np.ndarray | None = None
    means: np.ndarray | None = None
    covariances: np.ndarray | None = None


def estimate_covariances(
    stats: SufficientStats,
    reg_covar: float,
    model: CovarianceModel,
    previous=None,
    fixed: FixedParameters | None = None,
):
    """Weights, means and the model's covariances (in its layout) from statistics."""
    if model.layout != stats.covariance_type:
        raise ValueError(
            f"{model.name} takes {model.layout} statistics, not {stats.covariance_type}"
        )
    fixed = fixed or FixedParameters()
    nk = stats.resp_sum + EMPTY_COMPONENT_GUARD
    if fixed.means is None:
        delta = stats.first / nk[:, None]
        means = stats.shift + delta
    else:  # the scatter about the known means: moved there from the statistics' centres
        means = fixed.means
        delta = means - stats.shift
    if fixed.covariances is None:
        scatter = scatter_in_layout(stats, nk, delta, means, reg_covar)
        covariances = model.covariances(scatter, nk, previous)
    else:
        covariances = fixed.covariances
    weights = nk / nk.sum() if fixed.weights is None else fixed.weights
    return weights, means, covariances


def m_step(
    stats: SufficientStats,
    reg_covar: float,
    model: CovarianceModel,
    data_variance: float | None = None,
    previous=None,
    fixed: FixedParameters | None = None,
):
    """The next mixture, its covariances, and whether a singular component was repaired.

    ``model`` is the covariance model (:mod:`fastem.covariance`); ``previous``
    the covariances before this step, where an iterative M-step starts;
    ``fixed`` the parameters held at known values.
    ``data_variance`` is the scale a singular component is repaired at when
    the mixture itself has no spread (see :func:`~fastem._recovery.repair_covariances`).
    """
    weights, means, covariances = estimate_covariances(stats, reg_covar, model, previous, fixed)
    try:
        prec_chol = precisions_cholesky_from_covariances(covariances, stats.covariance_type)
        repaired = False
    except ValueError:  # a singular component: repair it, or re-raise if none is found
        covariances, repaired = repair_covariances(
            covariances, weights, means, stats.covariance_type, data_variance
        )
        prec_chol = precisions_cholesky_from_covariances(covariances, stats.covariance_type)
    mixture = Mixture(stats.covariance_type, weights, means, prec_chol)
    return mixture, covariances, repaired
