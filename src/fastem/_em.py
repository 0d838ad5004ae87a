"""The EM loop: one pass over the data per iteration, the M-step on statistics.

The E-step and the accumulation of the M-step's sufficient statistics are one
call of the backend's fused kernel; the M-step itself works on those small
statistics only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ._accelerate import Squarem
from ._data import ArrayRows
from ._mixture import (
    Mixture,
    as_full_covariances,
    diagonal_precisions_cholesky,
    full_precisions_cholesky,
)
from ._stats import SufficientStats


class RowSource(Protocol):
    """Data that EM can pass over: an array, a memory-mapped file, a Dask array."""

    dtype: np.dtype  # the precision the rows are computed in (float32 or float64)

    def statistics(self, mixture: Mixture, backend) -> SufficientStats: ...

    def ensure_checked(self) -> None: ...


def expectation(X, sample_weight, mixture: Mixture, backend) -> SufficientStats:
    """The log-likelihood and shifted sums of an in-memory X under ``mixture`` (one pass)."""
    return ArrayRows(X, sample_weight).statistics(mixture, backend)


# Debug hook: with FASTEM_CHECK_MONOTONE=1 (the test suite sets it) every EM run
# asserts that its lower bound never decreases by more than rounding, except in
# an iteration whose M-step had to repair a singular covariance.
CHECK_MONOTONE = os.environ.get("FASTEM_CHECK_MONOTONE") == "1"
MONOTONE_TOLERANCE = 1e-9  # relative to 1 + |lower bound|, float64 rows
# float32 rows: full and tied log-densities come from y = (x − μ) U in float32,
# whose rounding (≈ D·2⁻²⁴·‖y‖²/2 per row) shows in the bound near convergence.
MONOTONE_TOLERANCE_FLOAT32 = 1e-6


def monotone_tolerance(dtype) -> float:
    """How far (relative to 1 + |bound|) rounding may lower the bound, by the rows' dtype."""
    return MONOTONE_TOLERANCE_FLOAT32 if dtype == np.float32 else MONOTONE_TOLERANCE


def _check_monotone(n_iter: int, previous: float, lower_bound: float, dtype) -> None:
    if lower_bound < previous - monotone_tolerance(dtype) * (1.0 + abs(previous)):
        raise AssertionError(
            f"EM lower bound decreased at iteration {n_iter}: {previous!r} -> {lower_bound!r}"
        )


@dataclass
class EMRun:
    """The outcome of one EM run from one initialisation."""

    mixture: Mixture
    covariances: np.ndarray
    lower_bound: float
    n_iter: int = 0
    converged: bool = False
    lower_bounds: list[float] = field(default_factory=list)


def run_em(
    data: RowSource,
    start: EMRun,
    *,
    backend,
    maximise: Callable[[SufficientStats, np.ndarray], tuple[Mixture, np.ndarray, bool]],
    max_iter: int,
    tol: float,
    on_iteration: Callable[[int, float, float], None] | None = None,
    stopping: StoppingRule | None = None,
    lower_bound: Callable[[SufficientStats, Mixture, Mixture], float] | None = None,
    accelerate: Squarem | None = None,
) -> EMRun:
    """Iterate E- and M-steps from ``start`` until the lower bound changes by < tol.

    The lower bound of an iteration is the weighted mean log-likelihood of the
    data under the parameters *entering* it (scikit-learn's convention), and
    convergence is ``|change| < tol``. ``maximise(stats, previous_covariances)``
    is the estimator's M-step, returning the next mixture, its covariances and
    whether it had to repair a singular one. ``stopping`` replaces or joins
    the lower-bound rule with one on the parameters (:class:`StoppingRule`).
    ``lower_bound(stats, entering, mixture)`` replaces the log-likelihood as
    the objective (the variational mixture's evidence lower bound, which
    needs the statistics under the entering parameters and the new ones).
    ``accelerate`` extrapolates every two EM steps (:mod:`fastem._accelerate`):
    a pass that evaluates an extrapolation whose bound is lower than the one
    before it is discarded (counted in ``n_iter``, not in ``lower_bounds``).
    ``start`` is never modified: each
    iteration builds a new mixture, so an interruption leaves no half-updated
    parameters behind.
    """
    run = EMRun(start.mixture, start.covariances, start.lower_bound)
    repaired = True  # the entering parameters come from outside this run
    cycle = _SquaremCycle(accelerate) if accelerate is not None else None
    for n_iter in range(1, max_iter + 1):
        previous = run.lower_bound
        stats = data.statistics(run.mixture, backend)
        entering, entering_covariances, entering_repaired = run.mixture, run.covariances, repaired
        mixture, covariances, repaired = maximise(stats, run.covariances)
        bound = (
            stats.mean_log_likelihood
            if lower_bound is None
            else lower_bound(stats, entering, mixture)
        )
        if cycle is not None and not cycle.kept(bound):
            # an extrapolation that lowered the bound: discard this pass, go on from θ₂
            run = EMRun(*cycle.fallback, previous, n_iter, False, run.lower_bounds)
            if on_iteration is not None:
                on_iteration(n_iter, previous, 0.0)
            continue
        # The bound describes the entering parameters (and, for a custom bound, the new ones
        # too): an iteration is checked unless a repaired covariance takes part in it.
        involved_repair = entering_repaired or (lower_bound is not None and repaired)
        if CHECK_MONOTONE and not involved_repair:
            _check_monotone(n_iter, previous, bound, data.dtype)
        run = EMRun(mixture, covariances, bound, n_iter, False, run.lower_bounds + [bound])
        change = bound - previous
        if on_iteration is not None:
            on_iteration(n_iter, bound, change)
        if stopping is None:
            converged = abs(change) < tol
        else:
            converged = stopping.converged(abs(change) < tol, entering, mixture, covariances)
        if converged:
            run.converged = True
            break
        if cycle is not None:
            proposal = cycle.proposal(
                (entering, entering_covariances), run, repaired, stats.total_weight
            )
            if proposal is not None:  # the next pass evaluates θ' (not an EM step: unchecked)
                run = EMRun(*proposal, bound, n_iter, False, run.lower_bounds)
                repaired = True
    return run


class _SquaremCycle:
    """Where a run is in SQUAREM's cycle: θ₀ → θ₁ → θ₂ → θ' → M(θ') = the next θ₀."""

    def __init__(self, squarem: Squarem):
        self.squarem = squarem
        self.points = []  # (mixture, covariances) of θ₀ and θ₁ once evaluated
        self.fallback = None  # θ₂ while θ' is being evaluated
        self.trial_bound = None  # the bound of θ₁, which θ' must reach

    def kept(self, bound: float) -> bool:
        """Whether this pass counts: False for an extrapolation whose bound fell below θ₁'s."""
        if self.trial_bound is None:
            return True
        needed, self.trial_bound = self.trial_bound, None
        if bound >= needed:
            self.squarem.accepted()
            self.fallback = None
            return True
        return False

    def proposal(self, entering, run: EMRun, repaired: bool, total_weight: float):
        """θ' after the passes that evaluated θ₀ and θ₁ (None: go on with plain EM)."""
        if self.fallback is not None:  # θ' was rejected: θ₂ is a fresh θ₀
            self.fallback = None
        if repaired:  # a repaired covariance: no extrapolation through it
            self.points = []
            return None
        self.points.append(entering)
        if len(self.points) < 2:
            return None
        stepped = (run.mixture, run.covariances)
        proposal = self.squarem.extrapolate([*self.points, stepped], total_weight)
        self.points = []
        if proposal is not None:
            self.fallback, self.trial_bound = stepped, run.lower_bound
        return proposal


def parameter_change(entering: Mixture, mixture: Mixture, covariances) -> float:
    """The largest scale-free change of any parameter from ``entering`` to ``mixture``.

    Weights by their absolute change (they are proportions already); means by
    the length of their move in the entering component's own metric,
    ‖(μ'_k − μ_k) U_k‖ (Mahalanobis, U_k the entering precision factor);
    covariances by the largest entry of U_kᵀ Σ'_k U_k − I (the new covariance
    seen in the entering component's whitened coordinates: 0 when unchanged,
    whatever the data's units). All three are invariant to affine changes of
    the data's coordinates.
    """
    n_components, n_features = mixture.means.shape
    factors = (
        full_precisions_cholesky(entering)
        if entering.covariance_type in ("full", "tied")
        else np.einsum("kd,de->kde", diagonal_precisions_cholesky(entering), np.eye(n_features))
    )
    new = as_full_covariances(covariances, mixture.covariance_type, n_components, n_features)
    weights = np.max(np.abs(mixture.weights - entering.weights))
    moves = np.einsum("kd,kde->ke", mixture.means - entering.means, factors)
    means = np.max(np.sqrt(np.sum(moves**2, axis=1)))
    whitened = np.einsum("kdi,kde,kej->kij", factors, new, factors) - np.eye(n_features)
    return float(max(weights, means, np.max(np.abs(whitened))))


@dataclass(frozen=True)
class StoppingRule:
    """When EM stops: on the lower bound (scikit-learn's), the parameters, or both.

    ``rule`` is 'lower_bound' (``|Δ bound| < tol``), 'parameters'
    (:func:`parameter_change` < ``param_tol``) or 'both' (both at once).
    """

    rule: str = "lower_bound"
    param_tol: float = 1e-4

    def converged(
        self, bound_converged: bool, entering: Mixture, mixture: Mixture, covariances
    ) -> bool:
        if self.rule == "lower_bound":
            return bound_converged
        if self.rule == "both" and not bound_converged:
            return False
        return parameter_change(entering, mixture, covariances) < self.param_tol
