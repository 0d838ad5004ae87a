"""Missing values (NaN) as latent variables: EM on each row's observed coordinates.

A row whose coordinates O are observed and M missing has, under component k,
the marginal density of its observed part and a Gaussian for the rest:

    x_O | k ~ N(μ_O, Σ_OO)
    x_M | x_O, k ~ N(μ_M + B_k (x_O − μ_O), C_k),  B_k = Σ_MO Σ_OO⁻¹,  C_k = Σ_MM − B_k Σ_OM

(Ghahramani & Jordan 1994; Little & Rubin, ch. 8 and 11). Rows are grouped by
their pattern O, found chunk by chunk from the chunk's NaN (a bit per entry
of the chunk being read, never an N×D mask). For the rows of one pattern the
backend's own kernel runs on their observed columns under the marginal mixture
(weights, μ_O, Σ_OO), giving the observed-data log-likelihood, R_k,
F_k = Σ w r (x_O − μ_O) and Q_k = Σ w r (x_O − μ_O)(x_O − μ_O)ᵀ. The
completed-data statistics about μ_k then follow from those small sums alone
(y = x̂ − μ_k, whose missing part is y_M = B_k y_O given the observed one):

    F̂_k = [F_k ; B_k F_k]
    Q̂_k = [[Q_k, Q_k B_kᵀ], [B_k Q_k, B_k Q_k B_kᵀ + R_k C_k]]

so the M-step sees the expected scatter, the conditional covariance of the
missing block included, and the covariances are unbiased. Per pattern and
component Σ_OO is factorised once per pass; rows without a NaN go through the
kernels exactly as without this module, so data with no NaN gives the same bits.

For diagonal layouts (diag, spherical) the coordinates are independent given
the component: B_k = 0, C_k = diag(σ²_kM). A row with no observed value has
the mixture's prior: responsibilities equal to the weights, log-likelihood 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._mixture import Mixture, covariances_from_cholesky
from ._stats import SufficientStats, moved_scatter

SCATTER_LAYOUTS = ("full", "tied")


@dataclass(frozen=True)
class Pattern:
    """The rows of a chunk that share one set of observed columns."""

    observed: np.ndarray  # (D,) bool
    rows: np.ndarray  # row indices within the chunk

    @property
    def missing(self) -> np.ndarray:
        return ~self.observed


@dataclass(frozen=True)
class Patterns:
    """A chunk's rows split into the complete ones and groups of incomplete ones."""

    complete: np.ndarray  # indices of the rows without NaN
    groups: list[Pattern]


def patterns_of(chunk: np.ndarray) -> Patterns | None:
    """The chunk's missingness patterns, or None when it holds no NaN.

    Patterns are keyed by the packed bits of their NaN mask and come in the
    order of those keys, so the grouping (and every sum after it) is the same
    on every pass.
    """
    missing = np.isnan(chunk)
    incomplete = missing.any(axis=1)
    if not incomplete.any():
        return None
    index_dtype = np.int32 if chunk.shape[0] < 2**31 else np.int64  # 4 bytes a row
    rows = np.flatnonzero(incomplete).astype(index_dtype)
    keys = _pattern_keys(np.packbits(missing[rows], axis=1))
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(inverse.ravel(), kind="stable")
    bounds = np.cumsum(np.bincount(inverse.ravel()))
    groups = [
        Pattern(~missing[rows[first[p]]], rows[order[start:stop]])
        for p, (start, stop) in enumerate(zip(np.r_[0, bounds[:-1]], bounds, strict=True))
    ]
    return Patterns(np.flatnonzero(~incomplete).astype(index_dtype), groups)


def _pattern_keys(packed: np.ndarray) -> np.ndarray:
    """One sortable key per row of packed NaN bits: a uint64 up to 64 columns, else bytes."""
    n_rows, width = packed.shape
    if width <= 8:
        padded = np.zeros((n_rows, 8), dtype=np.uint8)
        padded[:, :width] = packed
        return padded.view(np.uint64).ravel()
    return np.ascontiguousarray(packed).view(np.dtype((np.void, width))).ravel()


class Conditionals:
    """The mixture's marginals and conditionals, for any pattern of observed columns.

    The full covariances are computed once (on the first incomplete chunk of a
    pass); each pattern's marginal and conditional come from them.
    """

    def __init__(self, mixture: Mixture):
        self.mixture = mixture
        self.scatter = mixture.covariance_type in SCATTER_LAYOUTS
        covariances = covariances_from_cholesky(
            mixture.precisions_cholesky, mixture.covariance_type
        )
        n_components, n_features = mixture.means.shape
        if mixture.covariance_type == "tied":
            covariances = np.broadcast_to(covariances, (n_components, n_features, n_features))
        elif mixture.covariance_type == "spherical":
            covariances = np.repeat(covariances[:, None], n_features, axis=1)
        self.covariances = covariances  # (K, D, D) for full/tied, (K, D) variances otherwise

    def marginal(self, observed: np.ndarray) -> tuple[Mixture, np.ndarray | None]:
        """(the mixture of x_O, B_k of the conditional means or None for diagonal layouts).

        Full and tied marginals are evaluated as 'full' (the conditionals
        differ by component even when Σ is shared, through μ_k).
        """
        mixture = self.mixture
        means = np.ascontiguousarray(mixture.means[:, observed])
        if not self.scatter:
            prec_chol = mixture.precisions_cholesky
            if mixture.covariance_type == "diag":
                prec_chol = np.ascontiguousarray(prec_chol[:, observed])
            return Mixture(mixture.covariance_type, mixture.weights, means, prec_chol), None
        sigma_oo = self.covariances[:, observed][:, :, observed]
        # U_k = L_k⁻ᵀ with L_k Lᵀ_k = Σ_OO: the precision factor of the marginal.
        lower = np.linalg.cholesky(sigma_oo)
        identity = np.broadcast_to(np.eye(lower.shape[-1]), lower.shape)
        prec_chol = np.ascontiguousarray(np.swapaxes(np.linalg.solve(lower, identity), 1, 2))
        # B_k = Σ_MO Σ_OO⁻¹ = (Σ_MO U_k) U_kᵀ
        sigma_mo = self.covariances[:, ~observed][:, :, observed]
        regression = (sigma_mo @ prec_chol) @ np.swapaxes(prec_chol, 1, 2)
        return Mixture("full", mixture.weights, means, prec_chol), regression

    def conditional_covariance(self, observed: np.ndarray, regression) -> np.ndarray:
        """C_k = Σ_MM − B_k Σ_OM, (K, m, m); the variances σ²_kM for diagonal layouts."""
        missing = ~observed
        if regression is None:
            return self.covariances[:, missing]
        sigma_mm = self.covariances[:, missing][:, :, missing]
        sigma_om = self.covariances[:, observed][:, :, missing]
        return sigma_mm - regression @ sigma_om


def _completed(stats: SufficientStats, pattern: Pattern, conditionals: Conditionals, regression):
    """(F̂, Q̂) about μ_k from a pattern's observed statistics (module docstring)."""
    observed, missing = np.flatnonzero(pattern.observed), np.flatnonzero(pattern.missing)
    n_components, n_features = conditionals.mixture.means.shape
    first = np.zeros((n_components, n_features))
    first[:, observed] = stats.first
    covariance = conditionals.conditional_covariance(pattern.observed, regression)
    resp_sum = stats.resp_sum
    if regression is None:  # diagonal: y_M = 0, E[y_M²] = σ²_M
        second = np.zeros((n_components, n_features))
        second[:, observed] = stats.second
        second[:, missing] = resp_sum[:, None] * covariance
        return first, second
    upper = stats.second
    observed_scatter = np.triu(upper) + np.swapaxes(np.triu(upper, 1), 1, 2)
    first[:, missing] = np.einsum("kmo,ko->km", regression, stats.first)
    cross = observed_scatter @ np.swapaxes(regression, 1, 2)  # Q Bᵀ, (K, o, m)
    second = np.zeros((n_components, n_features, n_features))
    second[:, observed[:, None], observed] = observed_scatter
    second[:, observed[:, None], missing] = cross
    second[:, missing[:, None], observed] = np.swapaxes(cross, 1, 2)
    second[:, missing[:, None], missing] = regression @ cross + resp_sum[:, None, None] * covariance
    return first, second


def _prior_statistics(pattern: Pattern, weights, conditionals: Conditionals):
    """(R, F̂, Q̂) of rows with no observed value: responsibilities = weights, x̂ = μ_k."""
    mixture = conditionals.mixture
    total = float(pattern.rows.size if weights is None else weights[pattern.rows].sum())
    resp_sum = total * mixture.weights
    first = np.zeros_like(mixture.means)
    if conditionals.scatter:
        second = resp_sum[:, None, None] * conditionals.covariances
    else:
        second = resp_sum[:, None] * conditionals.covariances
    return total, resp_sum, first, second


def _add_completed(stats: SufficientStats, resp_sum, first, second) -> None:
    """Add completed-data sums about μ_k (K, D, D or K, D) to statistics of any layout."""
    stats.resp_sum += resp_sum
    stats.first += first
    if stats.covariance_type == "full":
        stats.second += np.triu(second)
    elif stats.covariance_type == "tied":
        move = stats.scatter_shift[None] - stats.shift
        stats.second += np.triu(moved_scatter(second, first, resp_sum, move).sum(axis=0))
    else:
        stats.second += second


def _rows(chunk, weights, index, columns=None):
    rows = chunk[index] if columns is None else chunk[np.ix_(index, columns)]
    return np.ascontiguousarray(rows), None if weights is None else weights[index]


def accumulate(
    chunk,
    weights,
    mixture: Mixture,
    backend,
    stats: SufficientStats,
    conditionals_of: Callable[[], Conditionals],
    patterns: Patterns | None,
) -> None:
    """One E-step over a chunk that may hold NaN: add its sums to ``stats``.

    ``patterns`` are the chunk's (:func:`patterns_of`); ``conditionals_of()``
    returns the pass's :class:`Conditionals` (built on first use, so a pass
    over complete data never computes them).
    """
    if patterns is None:
        backend.accumulate(chunk, weights, mixture, stats)
        return
    if patterns.complete.size:
        backend.accumulate(*_rows(chunk, weights, patterns.complete), mixture, stats)
    conditionals = conditionals_of()
    for pattern in patterns.groups:
        if not pattern.observed.any():
            total, resp_sum, first, second = _prior_statistics(pattern, weights, conditionals)
            stats.total_weight += total
            _add_completed(stats, resp_sum, first, second)
            continue
        marginal, regression = conditionals.marginal(pattern.observed)
        part = SufficientStats.zeros(marginal.covariance_type, marginal.means)
        rows, row_weights = _rows(chunk, weights, pattern.rows, pattern.observed)
        backend.accumulate(rows, row_weights, marginal, part)
        first, second = _completed(part, pattern, conditionals, regression)
        stats.total_weight += part.total_weight
        stats.log_likelihood += part.log_likelihood
        _add_completed(stats, part.resp_sum, first, second)


def by_pattern(
    block: np.ndarray,
    mixture: Mixture,
    evaluate: Callable[[np.ndarray, Mixture], np.ndarray],
    conditionals: Conditionals | None = None,
) -> np.ndarray:
    """``evaluate(rows, mixture)`` (an (n, K) array) for rows that may hold NaN.

    Complete rows are evaluated under ``mixture``, each pattern's rows on their
    observed columns under its marginal; rows with no observed value get the
    log of the weights.
    """
    patterns = patterns_of(block)
    if patterns is None:
        return evaluate(block, mixture)
    out = np.empty((block.shape[0], mixture.n_components))
    if patterns.complete.size:
        out[patterns.complete] = evaluate(np.ascontiguousarray(block[patterns.complete]), mixture)
    conditionals = conditionals or Conditionals(mixture)
    for pattern in patterns.groups:
        if not pattern.observed.any():
            with np.errstate(divide="ignore"):
                out[pattern.rows] = np.log(mixture.weights)
            continue
        marginal, _ = conditionals.marginal(pattern.observed)
        rows, _ = _rows(block, None, pattern.rows, pattern.observed)
        out[pattern.rows] = evaluate(rows, marginal)
    return out


def filled(
    block: np.ndarray, resp: np.ndarray, conditionals: Conditionals, random_state=None
) -> np.ndarray:
    """The block with its NaN filled: conditional expectations, or one random draw.

    ``resp`` (n, K) are the rows' responsibilities given their observed part.
    Without ``random_state`` each missing block becomes
    E[x_M | x_O] = Σ_k r_k m_k(x), m_k(x) = μ_kM + B_k (x_O − μ_kO); with it,
    a component k is drawn from r for each row, then x_M ~ N(m_k(x), C_k).
    """
    out = np.array(block, dtype=np.float64)
    patterns = patterns_of(block)
    if patterns is None:
        return out
    means = conditionals.mixture.means
    for pattern in patterns.groups:
        observed, missing, rows = pattern.observed, pattern.missing, pattern.rows
        regression = conditionals.marginal(observed)[1] if observed.any() else None
        conditional_means = np.broadcast_to(
            means[:, None, missing], (means.shape[0], rows.size, int(missing.sum()))
        )
        if regression is not None:
            centred = block[np.ix_(rows, observed)][None] - means[:, None, observed]
            conditional_means = conditional_means + centred @ np.swapaxes(regression, 1, 2)
        if random_state is None:
            values = np.einsum("nk,knm->nm", resp[rows], conditional_means)
        else:
            values = _drawn(
                resp[rows],
                conditional_means,
                conditionals.conditional_covariance(observed, regression),
                random_state,
            )
        out[np.ix_(rows, np.flatnonzero(missing))] = values
    return out


def _drawn(resp, conditional_means, covariance, random_state) -> np.ndarray:
    """One draw of x_M per row: k ~ r, then N(m_k, C_k) (C_k variances when 1-D per k)."""
    n_rows = resp.shape[0]
    cumulative = np.cumsum(resp, axis=1)
    uniform = random_state.uniform(size=(n_rows, 1)) * cumulative[:, -1:]
    components = np.minimum((cumulative < uniform).sum(axis=1), resp.shape[1] - 1)
    noise = random_state.standard_normal(size=conditional_means.shape[1:])
    values = conditional_means[components, np.arange(n_rows)]
    if covariance.ndim == 2:  # diagonal layouts: independent coordinates
        return values + noise * np.sqrt(covariance[components])
    # C_k = V Λ Vᵀ: draw V Λ^½ z (rounding may leave an eigenvalue of C_k just below 0)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    factors = eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))[:, None, :]
    return values + np.einsum("nij,nj->ni", factors[components], noise)


def mean_filled(X: np.ndarray) -> np.ndarray:
    """X with each NaN replaced by its column's mean over the observed rows (a new array).

    X itself when it holds no NaN. Raises if a column has no observed value.
    """
    missing = np.isnan(X)
    if not missing.any():
        return X
    observed = ~missing
    counts = observed.sum(axis=0)
    if np.any(counts == 0):
        column = int(np.argmin(counts))
        raise ValueError(
            f"Column {column} of X has no observed value in the {X.shape[0]} rows the "
            "initialisation sees: a mixture cannot be fitted to it. Drop the column."
        )
    means = np.where(observed, X, 0.0).sum(axis=0, dtype=np.float64) / counts
    return np.where(missing, means.astype(X.dtype), X)
