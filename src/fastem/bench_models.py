"""Time per EM iteration of every covariance model (``python -m fastem.bench --models``).

Every model shares the E-step kernel of its layout (full and tied: the
triangular transform; diag and spherical: the diagonal one); only the M-step
differs, and it works on K·D² statistics, never on the rows. For the full-16
shape (N = 1e6, D = 16, K = 16) this prints, per model, the time of one EM
iteration, the time of its M-step alone on the same statistics, the M-step's
share, and the iteration's time relative to 'full' (VVV) measured in the same
run.
"""

from __future__ import annotations

import statistics
import time
import warnings

import numpy as np

MODELS_SHAPE = (1_000_000, 16, 16)


def _start(X, name: str, seed: int):
    """The mixture after one EM iteration from a random_from_data draw: a data-sized start."""
    from . import GaussianMixture

    start = GaussianMixture(
        MODELS_SHAPE[2],
        covariance_type=name,
        max_iter=1,
        init_params="random_from_data",
        random_state=seed,
        tol=0.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start.fit(X[:100_000])
    return start


def _iteration_seconds(X, name: str, init: dict, iterations: int) -> float:
    from . import GaussianMixture

    model = GaussianMixture(
        MODELS_SHAPE[2], covariance_type=name, tol=0.0, max_iter=iterations, **init
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        model.fit(X)
    return time.perf_counter() - started


def model_rows(
    scale: float = 1.0, repeats: int = 3, short: int = 1, long: int = 3, seed: int = 0
) -> list[dict]:
    """One row per covariance model: s/iteration, M-step seconds and share, ratio to VVV."""
    from ._data import ArrayRows
    from ._mstep import m_step
    from .backends import get_backend
    from .covariance import MODELS
    from .datasets import make_mixture

    n_samples, n_features, n_components = MODELS_SHAPE
    X, _ = make_mixture(
        max(2000, int(n_samples * scale)), n_features, n_components, random_state=seed
    )
    backend = get_backend("auto")
    rows = []
    for name, model in MODELS.items():
        start = _start(X, name, seed)
        init = {
            "weights_init": start.weights_,
            "means_init": start.means_,
            "precisions_init": start.precisions_,
        }
        _iteration_seconds(X[:2000], name, init, 1)  # kernels loaded outside the timings
        times = [
            (_iteration_seconds(X, name, init, long) - _iteration_seconds(X, name, init, short))
            / (long - short)
            for _ in range(repeats)
        ]
        stats = ArrayRows(X, None).statistics(start._mixture, backend)
        m_step_times = []
        for _ in range(max(repeats, 3)):
            started = time.perf_counter()
            m_step(stats, start.reg_covar, model, previous=start.covariances_)
            m_step_times.append(time.perf_counter() - started)
        rows.append(
            {
                "model": name,
                "layout": model.layout,
                "seconds": statistics.median(times),
                "m_step": statistics.median(m_step_times),
            }
        )
    full = next(row["seconds"] for row in rows if row["model"] == "VVV")
    for row in rows:
        row["share"] = row["m_step"] / row["seconds"] if row["seconds"] > 0 else np.nan
        row["vs_full"] = row["seconds"] / full
    return rows


def report(scale: float = 1.0, repeats: int = 3, short: int = 1, long: int = 3) -> str:
    """The table ``python -m fastem.bench --models`` prints."""
    n_samples, n_features, n_components = MODELS_SHAPE
    rows = model_rows(scale, repeats, short, long)
    lines = [
        f"time per EM iteration by covariance model, N={int(n_samples * scale):,}, "
        f"D={n_features}, K={n_components} (median of {repeats})",
        f"{'model':<6} {'layout':<10} {'s/it':>8} {'M-step ms':>10} {'M-step %':>9} {'vs VVV':>7}",
    ]
    for row in rows:
        lines.append(
            f"{row['model']:<6} {row['layout']:<10} {row['seconds']:>8.4f} "
            f"{1e3 * row['m_step']:>10.2f} {100 * row['share']:>8.1f}% "
            f"{row['vs_full']:>6.2f}x"
        )
    return "\n".join(lines)
