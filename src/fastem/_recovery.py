"""Degenerate components: repaired where a model exists, reported precisely where not.

A covariance stops being positive definite when a component collapses onto
one point or onto a subspace (duplicate points, a constant feature, fewer
points than features) and ``reg_covar`` is 0 or too small for the data's
scale. scikit-learn then stops with "ill-defined empirical covariance".
fastem instead regularises that component only: it adds ``jitter · I`` to its
covariance, with the jitter growing from 1e-10 to 1e-3 times the data's mean
variance until the Cholesky factorisation succeeds, and emits a
:class:`DegenerateComponentWarning` naming the component and the jitter. If
the data has no spread at all (every row the same) no Gaussian with a
covariance exists, and a ValueError says so.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg
from sklearn.exceptions import ConvergenceWarning

JITTER_STEPS = 10.0 ** np.arange(-10, -2)  # relative to the data's mean variance


class DegenerateComponentWarning(ConvergenceWarning):
    """A component collapsed and fastem regularised it (see the message)."""


def data_mean_variance(weights, means, covariances, covariance_type) -> float:
    """The mixture's total variance per feature, Σ_k π_k (tr Σ_k + ‖μ_k − μ̄‖²) / D."""
    n_features = means.shape[1]
    centre = weights @ means
    between = weights @ np.sum((means - centre) ** 2, axis=1)
    if covariance_type == "full":
        within = weights @ np.trace(covariances, axis1=1, axis2=2)
    elif covariance_type == "tied":
        within = np.trace(covariances)
    elif covariance_type == "diag":
        within = weights @ covariances.sum(axis=1)
    else:
        within = n_features * (weights @ covariances)
    return float((within + between) / n_features)


def _positive_definite(matrix) -> bool:
    try:
        linalg.cholesky(matrix, lower=True)
    except linalg.LinAlgError:
        return False
    return bool(np.all(np.isfinite(matrix)))


def _no_spread_error():
    return ValueError(
        "Every component has zero variance: the data has no spread (all rows identical, "
        "or identical within each component), so no Gaussian with a covariance fits it. "
        "Set reg_covar > 0 to fit a regularised model anyway."
    )


def repair_covariances(
    covariances, weights, means, covariance_type: str, data_variance: float | None = None
):
    """Covariances with every singular component regularised (in a copy), and a warning.

    The jitter is relative to the mixture's own variance, or to
    ``data_variance`` when the mixture has none (one point per component).

    Returns ``(covariances, repaired)``: the input itself and False when nothing
    needed repair.
    """
    if covariance_type == "diag":
        singular = ~np.all(covariances > 0.0, axis=1)
    elif covariance_type == "spherical":
        singular = ~(covariances > 0.0)
    else:
        stack = covariances if covariance_type == "full" else covariances[None]
        singular = np.array([not _positive_definite(matrix) for matrix in stack])
    if not np.any(singular):
        return covariances, False
    scale = data_mean_variance(weights, means, np.nan_to_num(covariances), covariance_type)
    if not scale > 0.0 and data_variance is not None:
        scale = data_variance
    if not scale > 0.0:
        raise _no_spread_error()
    repaired = np.array(covariances, dtype=np.float64)
    jitters = {}
    for k in np.flatnonzero(singular):
        for step in JITTER_STEPS:
            jitter = step * scale
            if covariance_type in ("diag", "spherical"):
                candidate = np.maximum(repaired[k], 0.0) + jitter
                if np.all(candidate > 0.0):
                    repaired[k] = candidate
                    break
            else:
                matrix = (repaired if covariance_type == "full" else repaired[None])[k]
                candidate = matrix + jitter * np.eye(matrix.shape[0])
                if _positive_definite(candidate):
                    matrix[...] = candidate
                    break
        else:
            raise ValueError(
                f"Component {k} has an ill-defined covariance that no regularisation up to "
                f"{JITTER_STEPS[-1] * scale:.3g} repairs; decrease n_components, increase "
                "reg_covar or rescale the data."
            )
        jitters[int(k)] = jitter
    if covariance_type == "tied":
        which = f"the shared covariance (+{jitters[0]:.3g})"
    else:
        which = ", ".join(f"component {k} (+{jitter:.3g})" for k, jitter in jitters.items())
    warnings.warn(
        "Singular covariance (a component collapsed onto a point or a subspace): added a "
        f"small multiple of the identity to {which}. Increase reg_covar to regularise "
        "every component instead.",
        DegenerateComponentWarning,
        stacklevel=2,
    )
    return repaired, True
