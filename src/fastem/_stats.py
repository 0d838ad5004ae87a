"""Sufficient statistics of one EM pass, and how chunks of them combine.

Every backend returns the same :class:`SufficientStats` for a block of rows;
the statistics of a data set are the sum over its blocks (in a fixed order),
which is what makes chunked, out-of-core and distributed fitting one
mechanism. Sums are *shifted*: taken about a centre close to the data
(the current means) rather than about the origin, so that data far from
the origin loses no digits (E[x²] − μ² is never formed).

With r_nk the responsibility of component k for row n and w_n the row weight,

- ``total_weight``  = Σ_n w_n
- ``log_likelihood`` = Σ_n w_n log p(x_n)
- ``resp_sum[k]``   = Σ_n w_n r_nk
- ``first[k]``      = Σ_n w_n r_nk (x_n − shift_k)
- ``second``:
    full       (K, D, D) Σ_n w_n r_nk (x_n − shift_k)(x_n − shift_k)ᵀ
    tied       (D, D)    Σ_n w_n (x_n − scatter_shift)(x_n − scatter_shift)ᵀ
    diag, spherical (K, D) Σ_n w_n r_nk (x_n − shift_k)²
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


def symmetric_from_upper(upper: np.ndarray) -> np.ndarray:
    """Mirror the upper triangle of each (…, D, D) matrix to the lower one."""
    lower = np.swapaxes(np.triu(upper, 1), -1, -2)
    return np.triu(upper) + lower


def moved_scatter(scatter, first, resp_sum, move):
    """Scatter about a + d from the scatter C and first moment S about a.

    Σ w r (x − a − d)(x − a − d)ᵀ = C − S dᵀ − d Sᵀ + R d dᵀ, for each leading index.
    """
    cross = first[..., :, None] * move[..., None, :]
    outer = move[..., :, None] * move[..., None, :]
    return scatter - cross - np.swapaxes(cross, -1, -2) + resp_sum[..., None, None] * outer


@dataclass
class SufficientStats:
    """Shifted sufficient statistics of a Gaussian mixture over some rows."""

    covariance_type: str
    shift: np.ndarray
    scatter_shift: np.ndarray | None
    total_weight: float
    log_likelihood: float
    resp_sum: np.ndarray
    first: np.ndarray
    second: np.ndarray

    @classmethod
    def zeros(cls, covariance_type, shift, scatter_shift=None):
        """Empty statistics about the given centres, ready to accumulate into."""
        n_components, n_features = shift.shape
        second_shape = {
            "full": (n_components, n_features, n_features),
            "tied": (n_features, n_features),
            "diag": (n_components, n_features),
            "spherical": (n_components, n_features),
        }[covariance_type]
        if covariance_type == "tied" and scatter_shift is None:
            raise ValueError("tied statistics need a scatter_shift")
        return cls(
            covariance_type=covariance_type,
            shift=np.ascontiguousarray(shift, dtype=np.float64),
            scatter_shift=(
                None
                if scatter_shift is None
                else np.ascontiguousarray(scatter_shift, dtype=np.float64)
            ),
            total_weight=0.0,
            log_likelihood=0.0,
            resp_sum=np.zeros(n_components),
            first=np.zeros((n_components, n_features)),
            second=np.zeros(second_shape),
        )

    def add(self, other: SufficientStats) -> SufficientStats:
        """Add another block's statistics (taken about the same centres) in place."""
        if not np.array_equal(self.shift, other.shift):
            raise ValueError("cannot add statistics taken about different centres")
        self.total_weight += other.total_weight
        self.log_likelihood += other.log_likelihood
        self.resp_sum += other.resp_sum
        self.first += other.first
        self.second += other.second
        return self

    @property
    def mean_log_likelihood(self) -> float:
        """The per-sample (weighted) mean log-likelihood: EM's lower bound."""
        return self.log_likelihood / self.total_weight

    def recentred(self, shift: np.ndarray, scatter_shift: np.ndarray | None = None):
        """The same statistics taken about other centres (a new object).

        Moving centre a_k by d_k = shift_k − a_k: S' = S − R d, and the
        second moments follow :func:`moved_scatter` (full), Q − 2 S d + R d²
        (diag, spherical), or, for the tied total scatter about c moved by
        e = c' − c, with F = Σ_k S_k + R_k (a_k − c) the total first moment
        about c: T − F eᵀ − e Fᵀ + (Σ R) e eᵀ.
        """
        shift = np.asarray(shift, dtype=np.float64)
        move = shift - self.shift
        first = self.first - self.resp_sum[:, None] * move
        if self.covariance_type == "full":
            second = moved_scatter(
                symmetric_from_upper(self.second), self.first, self.resp_sum, move
            )
        elif self.covariance_type == "tied":
            scatter_shift = np.asarray(scatter_shift, dtype=np.float64)
            total_first = (
                self.first + self.resp_sum[:, None] * (self.shift - self.scatter_shift)
            ).sum(axis=0)
            second = moved_scatter(
                symmetric_from_upper(self.second),
                total_first,
                np.asarray(self.resp_sum.sum()),
                scatter_shift - self.scatter_shift,
            )
        else:
            second = self.second - 2.0 * self.first * move + self.resp_sum[:, None] * move**2
        return replace(self, shift=shift, scatter_shift=scatter_shift, first=first, second=second)

    def scaled(self, factor: float):
        """Every sum multiplied by ``factor`` (a new object, same centres)."""
        return replace(
            self,
            total_weight=self.total_weight * factor,
            log_likelihood=self.log_likelihood * factor,
            resp_sum=self.resp_sum * factor,
            first=self.first * factor,
            second=self.second * factor,
        )
