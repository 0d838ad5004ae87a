"""The reference cases of the benchmarks and how one EM iteration is timed.

Shared by ``python -m fastem.bench`` and its ``--beyond-memory`` and
``--models`` reports: the cases of ``shared/README.md`` (a seeded mixture, the
same initial parameters for every implementation, ``tol=0``), and the time of
one iteration as (t(max_iter=m) − t(max_iter=n)) / (m − n).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace

import numpy as np
from sklearn.exceptions import ConvergenceWarning


@dataclass(frozen=True)
class Case:
    name: str
    n_samples: int
    n_features: int
    n_components: int
    covariance_type: str
    dtype: type = np.float64

    def flops_per_iteration(self) -> float:
        n, d, k = self.n_samples, self.n_features, self.n_components
        if self.covariance_type in ("full", "tied"):
            return 2.0 * n * k * d * (d + 1)
        return 6.0 * n * k * d


CASES = (
    Case("full-16", 1_000_000, 16, 16, "full"),
    Case("full-16-f32", 1_000_000, 16, 16, "full", np.float32),
    Case("diag-16", 1_000_000, 16, 16, "diag"),
    Case("lowdim", 1_000_000, 2, 5, "full"),
    Case("wide", 200_000, 50, 10, "full"),
)


def initial_parameters(X, case: Case, seed: int = 0) -> dict:
    """weights_init, means_init and precisions_init of one 'random_from_data' draw."""
    from . import GaussianMixture

    start = GaussianMixture(
        case.n_components,
        covariance_type=case.covariance_type,
        init_params="random_from_data",
        max_iter=0,
        random_state=seed,
    )
    start.fit(X[: min(X.shape[0], 100_000)])
    # Data-sized initial covariances (the draw itself gives reg_covar·I).
    start.set_params(max_iter=1, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(X[: min(X.shape[0], 100_000)])
    return {
        "weights_init": start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }


MEASURE_ATTEMPTS = 5  # tries for a positive time per iteration (see time_per_iteration)


def _fit_seconds(
    estimator_class, X, case: Case, init: dict, max_iter: int, options: dict | None = None
) -> float:
    model = estimator_class(
        n_components=case.n_components,
        covariance_type=case.covariance_type,
        tol=0.0,
        max_iter=max_iter,
        **init,
        **(options or {}),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        started = time.perf_counter()
        model.fit(X)
        return time.perf_counter() - started


def time_per_iteration(
    estimator_class, X, case, init, short, long, repeats, options: dict | None = None
) -> list[float]:
    """(t(max_iter=long) − t(max_iter=short)) / (long − short), ``repeats`` times.

    Where an iteration is shorter than the fits' timing noise (small data,
    ``--quick``, a busy machine) that difference can come out zero or
    negative, which is no time at all: it is then measured again, up to
    ``MEASURE_ATTEMPTS`` times, and the last value kept whatever it is.
    """
    times = []
    for _ in range(repeats):
        for _ in range(MEASURE_ATTEMPTS):
            seconds = (
                _fit_seconds(estimator_class, X, case, init, long, options)
                - _fit_seconds(estimator_class, X, case, init, short, options)
            ) / (long - short)
            if seconds > 0:
                break
        times.append(seconds)
    return times


def compiled_backends() -> list[str]:
    """The compiled backends that run here, fastest first."""
    from .backends import available_backends

    return [
        name for name, reason in available_backends().items() if reason is None and name != "numpy"
    ]


def prepared_case(case: Case, seed: int, scale: float, backends=()):
    """The scaled case, its data, shared initial parameters, with the kernels loaded."""
    from . import GaussianMixture
    from .datasets import make_mixture

    case = replace(case, n_samples=max(1000, int(case.n_samples * scale)))
    X, _ = make_mixture(
        case.n_samples, case.n_features, case.n_components, dtype=case.dtype, random_state=seed
    )
    init = initial_parameters(X, case, seed)
    for backend in backends:  # compile / load the kernels outside the timings
        _fit_seconds(GaussianMixture, X[:2000], case, init, 1, {"backend": backend})
    return case, X, init
