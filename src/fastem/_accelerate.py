"""SQUAREM: EM steps squared and extrapolated (Varadhan & Roland 2008), kept monotone.

EM converges linearly: on overlapping components each pass gains little. From
θ₀, two EM steps θ₁ = M(θ₀), θ₂ = M(θ₁) give r = θ₁ − θ₀ and
v = θ₂ − 2θ₁ + θ₀; the step length α = −‖r‖ / ‖v‖ (the scheme SqS3), with
α ≤ −1, gives

    θ' = θ₀ − 2α r + α² v        (α = −1 is θ₂ itself)

θ lives in coordinates where any value is a valid mixture: log-weights
(normalised back on the simplex), means over a scale of the data, and
covariances as log-variances (diag, spherical) or as Cholesky factors with a
log diagonal (full, tied), so Σ' is positive definite. Σ' is handed to the
covariance model as a scatter n_k Σ'_k, so θ' obeys the model's constraints
too (a model without constraints returns Σ' itself).

Safeguard: θ' is evaluated by the next pass over the data, which also gives
M(θ'). It is accepted when its log-likelihood is no lower than θ₁'s; then the
run continues from M(θ'), whose likelihood is higher still (EM never lowers
it). Otherwise that pass is discarded and the run continues from θ₂, as plain
EM would. The largest |α| starts at 1 and is multiplied by 4 each time an
extrapolation that used it is accepted (the SQUAREM package's defaults,
step.max0 = 1, mstep = 4).
"""

from __future__ import annotations

import numpy as np

from ._mixture import Mixture, precisions_cholesky_from_covariances

STEP_GROWTH = 4.0


class Squarem:
    """The extrapolation of one EM run: maps mixtures to coordinates and back.

    Parameters
    ----------
    model : CovarianceModel
        The covariance model the extrapolated covariances are projected into.
    """

    def __init__(self, model):
        self.model = model
        self.max_step = 1.0

    # --- coordinates ---------------------------------------------------------

    def _coordinates(self, mixture: Mixture, covariances, scale: float) -> list[np.ndarray]:
        layout = mixture.covariance_type
        with np.errstate(divide="ignore"):
            log_weights = np.log(mixture.weights)
        covariances = np.asarray(covariances, dtype=np.float64)
        if layout in ("full", "tied"):
            factors = np.linalg.cholesky(covariances)
            diagonal = np.diagonal(factors, axis1=-2, axis2=-1)
            # strictly lower part as is, the diagonal as its log
            shape = np.tril(factors, -1) + np.einsum(
                "...i,ij->...ij", np.log(diagonal), np.eye(covariances.shape[-1])
            )
        else:
            shape = np.log(covariances)
        return [log_weights, mixture.means / scale, shape]

    def _mixture(self, coordinates, scale: float, layout: str, nk_total: float):
        """The mixture at coordinates θ, its covariances projected into the model."""
        log_weights, scaled_means, shape = coordinates
        weights = np.exp(log_weights - np.max(log_weights))
        weights /= weights.sum()
        means = scaled_means * scale
        if layout in ("full", "tied"):
            eye = np.eye(shape.shape[-1])
            factors = np.tril(shape, -1) + np.einsum(
                "...i,ij->...ij", np.exp(np.diagonal(shape, axis1=-2, axis2=-1)), eye
            )
            covariances = factors @ np.swapaxes(factors, -1, -2)
        else:
            covariances = np.exp(shape)
        nk = weights * nk_total
        if layout == "full":
            scatter = covariances * nk[:, None, None]
        elif layout == "tied":
            scatter = covariances * nk.sum()
        elif layout == "diag":
            scatter = covariances * nk[:, None]
        else:
            scatter = np.repeat((covariances * nk)[:, None], means.shape[1], axis=1)
        covariances = self.model.covariances(scatter, nk, covariances)
        prec_chol = precisions_cholesky_from_covariances(covariances, layout)
        return Mixture(layout, weights, means, prec_chol), covariances

    # --- the step --------------------------------------------------------------

    def extrapolate(self, points, nk_total: float):
        """θ' from three successive (mixture, covariances), or None when it cannot be formed.

        ``nk_total`` is the total weight of the rows (the model's scatter is
        n_k Σ_k with n_k = w_k · nk_total).
        """
        (m0, c0), (m1, c1), (m2, c2) = points
        scale = float(np.sqrt(np.mean(_variances(c0, m0))))
        scale = scale if np.isfinite(scale) and scale > 0 else 1.0
        try:
            with np.errstate(all="ignore"):
                theta = [self._coordinates(m, c, scale) for m, c in points]
                r = [b - a for a, b in zip(theta[0], theta[1], strict=True)]
                v = [c - 2 * b + a for a, b, c in zip(*theta, strict=True)]
                r_norm = np.sqrt(sum(np.sum(part[np.isfinite(part)] ** 2) for part in r))
                v_norm = np.sqrt(sum(np.sum(part[np.isfinite(part)] ** 2) for part in v))
                if not v_norm > 0:
                    return None
                alpha = -min(max(r_norm / v_norm, 1.0), self.max_step)
                moved = [
                    a - 2 * alpha * dr + alpha**2 * dv
                    for a, dr, dv in zip(theta[0], r, v, strict=True)
                ]
                # a weight that is 0 stays 0 (−inf log-weights give NaN differences)
                moved[0] = np.where(np.isfinite(theta[2][0]), moved[0], -np.inf)
                if not all(np.all(np.isfinite(part)) for part in moved[1:]):
                    return None
                mixture, covariances = self._mixture(moved, scale, m0.covariance_type, nk_total)
        except (ValueError, np.linalg.LinAlgError):
            return None  # an extrapolated covariance the model cannot take: plain EM
        self.last_step = -alpha
        return mixture, covariances

    def accepted(self) -> None:
        """The last extrapolation was accepted: allow longer steps if it used the longest."""
        if self.last_step >= self.max_step:
            self.max_step *= STEP_GROWTH


def _variances(covariances, mixture: Mixture) -> np.ndarray:
    """The variances along each axis, for the scale of the means' coordinates."""
    covariances = np.asarray(covariances)
    if mixture.covariance_type in ("full", "tied"):
        return np.diagonal(covariances, axis1=-2, axis2=-1)
    return covariances
