"""What every covariance model provides, and the linear algebra they share.

The M-step hands a model the scatter of each component about its new mean,
W_k = Σ_n w_n r_nk (x_n − μ_k)(x_n − μ_k)ᵀ (with ``reg_covar`` · n_k added to
its diagonal), in the form its layout needs:

============ =============================================================
layout       scatter handed to the model
============ =============================================================
full         (K, D, D): W_k
tied         (D, D): W = Σ_k W_k, the pooled scatter
diag         (K, D): the diagonal of each W_k
spherical    (K, D): the diagonal of each W_k
============ =============================================================

and the model returns the covariances in the same layout's shape
(``covariances_`` of scikit-learn's type with that name).
"""

from __future__ import annotations

import numpy as np

LAYOUTS = ("full", "tied", "diag", "spherical")

INNER_TOL = 1e-12  # relative change at which an iterative M-step stops
INNER_MAX_ITER = 1000


class CovarianceModel:
    """One covariance model: its name, layout, M-step and parameter count.

    Subclasses set ``name`` (mclust's three letters), ``layout`` and
    ``description``, and implement :meth:`covariances` and
    :meth:`n_parameters`.
    """

    name: str
    layout: str
    description: str

    def covariances(
        self, scatter: np.ndarray, nk: np.ndarray, previous: np.ndarray | None = None
    ) -> np.ndarray:
        """The maximum-likelihood covariances given the scatter (see the module docstring).

        ``previous`` is the model's covariances before this M-step, from which
        an iterative M-step may start.
        """
        raise NotImplementedError

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters of the covariances: mclust's ``nMclustParams`` less weights, means."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<covariance model {self.name} ({self.layout} layout): {self.description}>"


def geometric_mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """(Π v)^(1/D) along ``axis``, in logs (no overflow or underflow for large D)."""
    with np.errstate(divide="ignore"):
        return np.exp(np.mean(np.log(values), axis=axis))


def root_determinant(matrices: np.ndarray) -> np.ndarray:
    """det(M)^(1/D) of each symmetric positive (semi)definite matrix of a (…, D, D) stack."""
    return geometric_mean(np.clip(np.linalg.eigvalsh(matrices), 0.0, None))


def descending_eigen(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues in decreasing order and their eigenvectors (columns), for each matrix."""
    values, vectors = np.linalg.eigh(matrices)
    return np.clip(values[..., ::-1], 0.0, None), vectors[..., ::-1]


def symmetric(matrices: np.ndarray) -> np.ndarray:
    return 0.5 * (matrices + np.swapaxes(matrices, -1, -2))


def converged(value: float, previous: float) -> bool:
    return abs(value - previous) <= INNER_TOL * (1.0 + abs(value))
