"""The variational Bayesian Gaussian mixture on sufficient statistics.

The model and its updates are scikit-learn's (Bishop, *Pattern Recognition
and Machine Learning*, §10.2; Blei & Jordan 2006 for the Dirichlet process):
weights π ~ Dirichlet(α₀) or a truncated stick-breaking process with
concentration α₀, and per component (μ_k, Λ_k) ~ Normal(m₀, (β₀ Λ_k)⁻¹)
Wishart(W₀, ν₀). The posterior q(π) q(μ, Λ) has the same forms with
parameters (α, β_k, m_k, W_k, ν_k).

The E-step is the fused pass of EM with other per-component constants:

    E_q[log π_k N(x | μ_k, Λ_k⁻¹)]
        = E[log π_k] + log det U_k − D/2 log 2π − D/2 log ν_k
          + ½ (log Λ̃_k − D / β_k) − ½ ‖(x − m_k) U_k‖²,

U_k the Cholesky factor of ν_k W_k (scikit-learn's normalised precision) and
log Λ̃_k = D log 2 + Σ_i ψ((ν_k − i) / 2). So a :class:`Posterior` is a
:class:`~fastem._mixture.Mixture` whose ``log_norm`` holds these constants,
and every backend's kernel computes the responsibilities and the sums
R_k, S_k, C_k unchanged. The M-step needs only those sums, and so does the
evidence lower bound: its one data term, −Σ_n w_n Σ_k r_nk log r_nk, is

    −Σ_k R_k c_k + ½ Σ_k tr(U_kᵀ C_k U_k) + Σ_n w_n log Σ_k e^{c_k − ½ m_nk},

the three sums of the E-step (c_k the constants above, m_nk the squared
Mahalanobis distances whose responsibility-weighted sum is the trace), so
no N×K array is ever formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, gammaln

from ._mixture import Mixture, precisions_cholesky_from_covariances
from ._mstep import EMPTY_COMPONENT_GUARD, estimate_covariances, scatter_in_layout
from ._stats import SufficientStats
from .covariance import get_model

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
CENTRE_ROWS = 1000  # rows whose mean centres the pass that finds the data's moments


@dataclass(frozen=True)
class Priors:
    """The prior's parameters: α₀, β₀, m₀, ν₀ and the covariance prior W₀⁻¹ (float64).

    ``covariance`` has the layout's shape: (D, D) full and tied, (D,) diag,
    () spherical.
    """

    weight_concentration_prior_type: str
    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: np.ndarray


@dataclass(frozen=True)
class Posterior(Mixture):
    """The variational posterior, held as the mixture the kernels evaluate.

    ``weights`` are the expected weights, ``means`` the m_k and
    ``precisions_cholesky`` the factors of ν_k W_k; in addition
    ``weight_concentration`` ((2, K) for the Dirichlet process: the Beta
    parameters of each stick; (K,) for the Dirichlet distribution),
    ``mean_precision`` β (K,), ``degrees_of_freedom`` ν ((K,), or () for
    tied), and the priors they came from.
    """

    weight_concentration: np.ndarray
    mean_precision: np.ndarray
    degrees_of_freedom: np.ndarray
    priors: Priors

    def expected_log_weights(self) -> np.ndarray:
        """E_q[log π_k]: digammas of the Dirichlet, or of the sticks' Beta distributions."""
        concentration = self.weight_concentration
        if self.priors.weight_concentration_prior_type == "dirichlet_process":
            a, b = concentration
            digamma_sum = digamma(a + b)
            # E[log v_k] + Σ_{j<k} E[log(1 − v_j)]
            return (
                digamma(a)
                - digamma_sum
                + np.hstack((0.0, np.cumsum(digamma(b) - digamma_sum)[:-1]))
            )
        return digamma(concentration) - digamma(np.sum(concentration))

    def log_norm(self) -> np.ndarray:
        """The constant c_k of E_q[log π_k N(x | k)] = c_k − ½ ‖(x − m_k) U_k‖² (module doc)."""
        n_features = self.n_features
        dof = np.broadcast_to(self.degrees_of_freedom, (self.n_components,))
        # log Λ̃_k = D log 2 + Σ_{i<D} ψ((ν_k − i) / 2)
        log_lambda = n_features * np.log(2.0) + np.sum(
            digamma(0.5 * (dof - np.arange(n_features)[:, None])), axis=0
        )
        return (
            self.expected_log_weights()
            + self.log_det_cholesky()
            - 0.5 * n_features * np.log(2.0 * np.pi)
            - 0.5 * n_features * np.log(dof)
            + 0.5 * (log_lambda - n_features / self.mean_precision)
        )


def expected_weights(weight_concentration: np.ndarray, prior_type: str) -> np.ndarray:
    """E_q[π], normalised: the fitted ``weights_``."""
    if prior_type == "dirichlet_process":
        a, b = weight_concentration
        total = a + b
        weights = a / total * np.hstack((1.0, np.cumprod(b / total)[:-1]))
    else:
        weights = weight_concentration
    return weights / np.sum(weights)


def _wishart_scale(layout, priors: Priors, nk, xk, sk, mean_precision, n_components):
    """ν and the normalised covariances (ν W)⁻¹ = (W₀⁻¹ + n S + n β₀/β (x̄ − m₀)(…)ᵀ) / ν."""
    diff = xk - priors.mean
    shrink = priors.mean_precision / mean_precision  # β₀ / β_k
    if layout == "full":
        dof = priors.degrees_of_freedom + nk
        covariances = (
            priors.covariance
            + nk[:, None, None] * sk
            + (nk * shrink)[:, None, None] * diff[:, :, None] * diff[:, None, :]
        )
        return dof, covariances / dof[:, None, None]
    if layout == "tied":
        dof = np.float64(priors.degrees_of_freedom + nk.sum() / n_components)
        covariances = (
            priors.covariance
            + sk * nk.sum() / n_components
            + priors.mean_precision / n_components * np.dot((nk / mean_precision) * diff.T, diff)
        )
        return dof, covariances / dof
    dof = priors.degrees_of_freedom + nk
    if layout == "diag":
        covariances = priors.covariance + nk[:, None] * (sk + shrink[:, None] * diff**2)
        return dof, covariances / dof[:, None]
    covariances = priors.covariance + nk * (sk + shrink * np.mean(diff**2, axis=1))
    return dof, covariances / dof


def maximise(stats: SufficientStats, priors: Priors, reg_covar: float):
    """The posterior from the statistics of the responsibilities: (Posterior, covariances).

    n_k, x̄_k and S_k (with ``reg_covar`` on the diagonal) are the M-step's of
    EM; then α, β_k = β₀ + n_k, m_k = (β₀ m₀ + n_k x̄_k) / β_k and the
    Wishart's ν_k, W_k as scikit-learn computes them (its covariances are
    normalised by ν_k).
    """
    layout = stats.covariance_type
    n_components = stats.shift.shape[0]
    _, xk, sk = estimate_covariances(stats, reg_covar, get_model(layout))
    nk = stats.resp_sum + EMPTY_COMPONENT_GUARD
    if priors.weight_concentration_prior_type == "dirichlet_process":
        # sticks: a_k = 1 + n_k, b_k = α₀ + Σ_{j>k} n_j
        tail = np.hstack((np.cumsum(nk[::-1])[-2::-1], 0.0))
        concentration = np.stack((1.0 + nk, priors.weight_concentration + tail))
    else:
        concentration = priors.weight_concentration + nk
    mean_precision = priors.mean_precision + nk
    means = (priors.mean_precision * priors.mean + nk[:, None] * xk) / mean_precision[:, None]
    dof, covariances = _wishart_scale(layout, priors, nk, xk, sk, mean_precision, n_components)
    prec_chol = precisions_cholesky_from_covariances(covariances, layout)
    posterior = Posterior(
        layout,
        expected_weights(concentration, priors.weight_concentration_prior_type),
        means,
        prec_chol,
        concentration,
        mean_precision,
        dof,
        priors,
    )
    return posterior, covariances


def _responsibility_weighted_distances(stats: SufficientStats, mixture: Mixture) -> float:
    """Σ_n w_n Σ_k r_nk ‖(x_n − μ_k) U_k‖² from the sums about the means μ_k."""
    layout = stats.covariance_type
    n_components = mixture.n_components
    scatter = scatter_in_layout(
        stats, np.zeros(n_components), np.zeros_like(stats.first), mixture.means, 0.0
    )
    prec_chol = mixture.precisions_cholesky
    if layout == "full":  # tr(U_kᵀ C_k U_k)
        return float(np.einsum("kij,kil,kjl->", scatter, prec_chol, prec_chol))
    if layout == "tied":
        return float(np.einsum("ij,il,jl->", scatter, prec_chol, prec_chol))
    if layout == "diag":
        return float(np.sum(scatter * prec_chol**2))
    return float(np.sum(scatter.sum(axis=1) * prec_chol**2))


def _log_wishart_norm(dof, log_det_prec_chol, n_features: int):
    """−log B(W, ν) up to the constant log π terms (scikit-learn's ``_log_wishart_norm``)."""
    return -(
        dof * log_det_prec_chol
        + dof * n_features * 0.5 * np.log(2.0)
        + np.sum(gammaln(0.5 * (dof - np.arange(n_features)[:, None])), axis=0)
    )


def lower_bound(stats: SufficientStats, entering: Posterior, posterior: Posterior) -> float:
    """scikit-learn's evidence lower bound, up to its constant, from statistics only.

    ``stats`` are the sums of the responsibilities under ``entering`` (taken
    about its means), ``posterior`` the one the M-step made of them.
    """
    if not np.array_equal(stats.shift, entering.means):
        raise ValueError("the lower bound needs the statistics about the entering means")
    n_features = entering.n_features
    # −Σ r log r = −Σ_k R_k c_k + ½ Σ r m + Σ w log Σ_k e^{c_k − m/2}   (module docstring)
    entropy = (
        -float(stats.resp_sum @ entering.log_norm())
        + 0.5 * _responsibility_weighted_distances(stats, entering)
        + stats.log_likelihood
    )
    dof = posterior.degrees_of_freedom
    log_det_prec_chol = posterior.log_det_cholesky() - 0.5 * n_features * np.log(dof)
    log_wishart = _log_wishart_norm(
        np.atleast_1d(dof), np.atleast_1d(log_det_prec_chol), n_features
    )
    if posterior.covariance_type == "tied":
        log_wishart = posterior.n_components * log_wishart[0]
    else:
        log_wishart = np.sum(log_wishart)
    concentration = posterior.weight_concentration
    if posterior.priors.weight_concentration_prior_type == "dirichlet_process":
        log_norm_weight = -np.sum(betaln(concentration[0], concentration[1]))
    else:
        log_norm_weight = gammaln(np.sum(concentration)) - np.sum(gammaln(concentration))
    return float(
        entropy
        - log_wishart
        - log_norm_weight
        - 0.5 * n_features * np.sum(np.log(posterior.mean_precision))
    )


def data_moments(data, backend, layout: str):
    """(total weight W, weighted mean, scatter about it) of the rows, in one pass.

    The covariance with one degree of freedom less (numpy's ``ddof=1``) is
    the scatter divided by W − 1, for W > 1 (:func:`sample_covariance`).

    The pass is the E-step of a one-component mixture centred on the mean of
    the first rows with identity precision (its responsibilities are all 1),
    so chunked, out-of-core and Dask rows give their moments like any other
    statistics, summed about a centre inside the data. For the diag and
    spherical layouts only the variances are formed.
    """
    centre = data.first_rows(CENTRE_ROWS).mean(axis=0)
    n_features = centre.shape[0]
    scatter_layout = "full" if layout in ("full", "tied") else "diag"
    prec_chol = np.eye(n_features)[None] if scatter_layout == "full" else np.ones((1, n_features))
    probe = Mixture(scatter_layout, np.ones(1), centre[None], prec_chol)
    stats = data.statistics(probe, backend).scaled(data.weight_unit)
    mean = centre + stats.first[0] / stats.resp_sum[0]
    return stats.total_weight, mean, stats.recentred(mean[None]).second[0]


def sample_covariance(total: float, scatter: np.ndarray) -> np.ndarray:
    """scatter / (W − 1): the covariance with ``ddof=1``, W the total weight (counts)."""
    if not total > 1.0:
        raise ValueError(
            "The default covariance_prior is the covariance of the data (with one degree of "
            f"freedom less), which needs a total sample weight above 1; it is {total:.3g}. "
            "Give covariance_prior, or larger weights."
        )
    return scatter / (total - 1.0)
