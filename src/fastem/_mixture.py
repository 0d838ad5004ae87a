"""The parameters of a Gaussian mixture and the linear algebra on them.

A mixture is held as scikit-learn holds it: ``weights`` (K,), ``means`` (K, D)
and the Cholesky factor of the precisions in the layout of the covariance type:

=========== ================ ==================================================
type        precisions_chol  meaning
=========== ================ ==================================================
full        (K, D, D)        upper-triangular U_k with precision_k = U_k U_kᵀ
tied        (D, D)           one U shared by every component
diag        (K, D)           1 / sqrt(variance_kd)
spherical   (K,)             1 / sqrt(variance_k)
=========== ================ ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.linalg import lapack

ILL_DEFINED_COVARIANCE = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)


def parameter_shape(covariance_type: str, n_components: int, n_features: int) -> tuple:
    """Shape of the covariances, precisions and their Cholesky factors of a covariance type."""
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


@dataclass(frozen=True)
class Mixture:
    """Parameters of a Gaussian mixture, always float64."""

    covariance_type: str
    weights: np.ndarray
    means: np.ndarray
    precisions_cholesky: np.ndarray

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def n_features(self) -> int:
        return self.means.shape[1]

    def log_det_cholesky(self) -> np.ndarray:
        """log det(U_k) for each component: log of the Gaussian's normaliser."""
        return log_det_cholesky(self.precisions_cholesky, self.covariance_type, self.n_features)

    def log_norm(self) -> np.ndarray:
        """Per-component constant of the weighted log-density.

        log w_k + log det U_k − D/2 · log 2π, so that
        log(w_k N(x | μ_k, Σ_k)) = log_norm_k − ½ ‖(x − μ_k) U_k‖².
        """
        with np.errstate(divide="ignore"):
            log_weights = np.log(self.weights)
        return log_weights + self.log_det_cholesky() - 0.5 * self.n_features * np.log(2.0 * np.pi)


def log_det_cholesky(prec_chol: np.ndarray, covariance_type: str, n_features: int):
    """Log-determinant of the precision Cholesky factors, one per component."""
    if covariance_type == "full":
        diagonals = np.diagonal(prec_chol, axis1=1, axis2=2)
        return np.sum(np.log(diagonals), axis=1)
    if covariance_type == "tied":
        return np.sum(np.log(np.diag(prec_chol)))
    if covariance_type == "diag":
        return np.sum(np.log(prec_chol), axis=1)
    return n_features * np.log(prec_chol)


def precisions_cholesky_from_covariances(covariances, covariance_type):
    """U with U Uᵀ = Σ⁻¹: invert the lower Cholesky factor L of Σ, U = L⁻ᵀ.

    LAPACK's potrf and trtrs are called directly, as ``scipy.linalg.cholesky``
    and ``solve_triangular`` call them (same results, bit for bit), without
    their per-call validation: once per iteration on K small matrices, that
    validation cost more than the factorisations (≈ 35 µs per 2 × 2 component).
    """
    covariances = np.asarray(covariances, dtype=np.float64)
    if not np.all(np.isfinite(covariances)):
        raise ValueError(ILL_DEFINED_COVARIANCE)
    if covariance_type in ("full", "tied"):
        stack = covariances if covariance_type == "full" else covariances[None]
        identity = np.eye(stack.shape[-1])
        factors = np.empty_like(stack)
        for k, covariance in enumerate(stack):
            cov_chol, info = lapack.dpotrf(covariance, lower=1, clean=1)
            if info == 0:
                inverse, info = lapack.dtrtrs(cov_chol, identity, lower=1)
            if info != 0:
                raise ValueError(ILL_DEFINED_COVARIANCE)
            factors[k] = inverse.T
        return factors if covariance_type == "full" else factors[0]
    if np.any(covariances <= 0.0):
        raise ValueError(ILL_DEFINED_COVARIANCE)
    return 1.0 / np.sqrt(covariances)


def _flip(matrix):
    return matrix[::-1, ::-1]


def precisions_cholesky_from_precisions(precisions, covariance_type):
    """Upper U with U Uᵀ = P, from the lower Cholesky factor of the reversed P."""
    precisions = np.asarray(precisions, dtype=np.float64)
    if covariance_type == "full":
        return np.stack([_flip(linalg.cholesky(_flip(p), lower=True)) for p in precisions])
    if covariance_type == "tied":
        return _flip(linalg.cholesky(_flip(precisions), lower=True))
    return np.sqrt(precisions)


def precisions_from_cholesky(prec_chol, covariance_type):
    """P = U Uᵀ in the layout of the covariance type."""
    if covariance_type == "full":
        return np.matmul(prec_chol, np.transpose(prec_chol, (0, 2, 1)))
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol**2


def covariances_from_cholesky(prec_chol, covariance_type):
    """Σ = (U Uᵀ)⁻¹ = U⁻ᵀ U⁻¹, computed through the triangular inverse."""
    if covariance_type in ("full", "tied"):
        stack = prec_chol if covariance_type == "full" else prec_chol[None]
        identity = np.eye(stack.shape[-1])
        covariances = np.empty_like(stack)
        for k, factor in enumerate(stack):
            inverse = linalg.solve_triangular(factor, identity, lower=False)
            covariances[k] = inverse.T @ inverse
        return covariances if covariance_type == "full" else covariances[0]
    return 1.0 / prec_chol**2


def full_precisions_cholesky(mixture: Mixture) -> np.ndarray:
    """U_k as a (K, D, D) stack, whatever the covariance type (tied is repeated)."""
    prec_chol = mixture.precisions_cholesky
    if mixture.covariance_type == "full":
        return prec_chol
    return np.repeat(prec_chol[None], mixture.n_components, axis=0)


def diagonal_precisions_cholesky(mixture: Mixture) -> np.ndarray:
    """diag(U_k) as a (K, D) array for the diag and spherical types."""
    prec_chol = mixture.precisions_cholesky
    if mixture.covariance_type == "diag":
        return prec_chol
    return np.repeat(prec_chol[:, None], mixture.n_features, axis=1)


def far_rows_component(X, mixture: Mixture) -> np.ndarray:
    """For rows whose distance ‖(x − μ_k) U_k‖ overflows: the component each tends to.

    Far enough from every component, the log-density is dominated by
    −½‖(x − μ_k) U_k‖², so the most probable component is the one with the
    smallest distance. Each distance is computed on (x − μ_k) / s, s the
    row's largest |x − μ_k|, and compared as log ‖(x − μ_k) U_k / s‖ + log s.
    """
    X = np.asarray(X, dtype=np.float64)
    full = mixture.covariance_type in ("full", "tied")
    factors = full_precisions_cholesky(mixture) if full else diagonal_precisions_cholesky(mixture)
    log_distances = np.empty((X.shape[0], mixture.n_components))
    for k in range(mixture.n_components):
        diff = X - mixture.means[k]
        scale = np.max(np.abs(diff), axis=1, keepdims=True)
        scale[scale == 0.0] = 1.0
        scaled = diff / scale
        y = scaled @ factors[k] if full else scaled * factors[k]
        with np.errstate(divide="ignore"):
            log_distances[:, k] = np.log(np.linalg.norm(y, axis=1)) + np.log(scale[:, 0])
    return np.argmin(log_distances, axis=1)


def as_full_covariances(covariances, layout: str, n_components: int, n_features: int) -> np.ndarray:
    """Every component's covariance as a (K, D, D) matrix, from any layout."""
    covariances = np.asarray(covariances, dtype=np.float64)
    if layout == "full":
        return covariances
    if layout == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features))
    if layout == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return covariances[:, None, None] * np.eye(n_features)
