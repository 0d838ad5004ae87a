"""Stepwise (online) EM for streams: a running average of the sufficient statistics.

Each mini-batch b_t gets one E-step under the current parameters; its
statistics ŝ_t, per unit weight, are blended into the running average

    s_t = (1 − η_t) s_{t−1} + η_t ŝ_t,    η_t = (t + 1)^(−α),  t = 0, 1, 2, …

and the M-step maps s_t to the next parameters (stepwise EM, Liang & Klein
2009; online EM, Cappé & Moulines 2009). η_0 = 1, so the first batch's
statistics are taken whole; with α in (0.5, 1] the steps satisfy Σ η_t = ∞
and Σ η_t² < ∞, the conditions under which the running statistics converge.
``STEP_DECAY`` = α = 0.7: smaller forgets the first batches faster, 1 makes
s_t the plain mean of all batches seen.

Per unit weight, batches of any size blend alike. The averages are held
about fixed centres (the means the first batch was taken about), so statistics taken
about each batch's current means are moved there before they are blended
(:meth:`~fastem._stats.SufficientStats.recentred`): no E[x²] − μ², whatever
the offset of the data.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._data import ArrayRows
from ._mixture import Mixture
from ._stats import SufficientStats

STEP_DECAY = 0.7


def step_size(n_steps: int) -> float:
    """η_t for the batch that follows ``n_steps`` earlier ones."""
    return (n_steps + 1.0) ** -STEP_DECAY


@dataclass
class OnlineState:
    """The running statistics (per unit weight, about fixed centres) and the step count."""

    statistics: SufficientStats
    n_steps: int


def step(
    state: OnlineState | None, rows: ArrayRows, mixture: Mixture, backend
) -> tuple[OnlineState, float]:
    """Blend one batch into the running statistics; also return its mean log-likelihood."""
    batch = rows.statistics(mixture, backend)
    lower_bound = batch.mean_log_likelihood
    batch = batch.scaled(1.0 / batch.total_weight)
    if state is None:
        return OnlineState(batch, 1), lower_bound
    running = state.statistics
    batch = batch.recentred(running.shift, running.scatter_shift)
    eta = step_size(state.n_steps)
    blended = running.scaled(1.0 - eta).add(batch.scaled(eta))
    return OnlineState(blended, state.n_steps + 1), lower_bound
