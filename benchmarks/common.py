"""Data and settings shared by the benchmarks.

``FASTEM_BENCH_SCALE`` multiplies every shape's number of rows (CI smoke runs
use 0.01); ``FASTEM_BENCH_THREADS`` sets the thread count of both libraries
(asv's matrix sweeps it).
"""

import os
import warnings
from functools import lru_cache

import numpy as np

# name: (n_samples, n_features, n_components), from the shared reference shapes
SHAPES = {
    "full-16": (1_000_000, 16, 16),
    "lowdim": (1_000_000, 2, 5),
    "wide": (200_000, 50, 10),
}
SCALE = float(os.environ.get("FASTEM_BENCH_SCALE", "1"))
THREADS = os.environ.get("FASTEM_BENCH_THREADS")


def set_threads():
    """Apply FASTEM_BENCH_THREADS to fastem's compiled backends and BLAS alike."""
    if THREADS is None:
        return
    from threadpoolctl import threadpool_limits

    from fastem.backends import available_backends, get_backend

    for name, reason in available_backends().items():
        if reason is None and name != "numpy":
            get_backend(name).threads.set_num_threads(int(THREADS))
    threadpool_limits(limits=int(THREADS))


def require_backend(name):
    """Skip a benchmark (asv reads NotImplementedError in setup as 'skipped') if
    ``name`` cannot run here."""
    from fastem.backends import available_backends

    reason = available_backends()[name]
    if reason is not None:
        raise NotImplementedError(f"fastem backend {name!r}: {reason}")


@lru_cache(maxsize=4)
def dataset(shape, dtype="float64"):
    """Seeded mixture data of a reference shape (scaled by FASTEM_BENCH_SCALE)."""
    from fastem.datasets import make_mixture

    n_samples, n_features, n_components = SHAPES[shape]
    n_samples = max(2000, int(n_samples * SCALE))
    X, _ = make_mixture(n_samples, n_features, n_components, dtype=np.dtype(dtype), random_state=0)
    return X


def initial_parameters(X, n_components, covariance_type):
    """One set of initial parameters for every implementation (see fastem.bench)."""
    from fastem._bench_cases import Case
    from fastem._bench_cases import initial_parameters as bench_initial_parameters

    case = Case("bench", X.shape[0], X.shape[1], n_components, covariance_type)
    return bench_initial_parameters(X, case)


def quiet():
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
