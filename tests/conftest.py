"""Shared fixtures: data sets, initial parameters and the backends to run on."""

import importlib.util
import os

import numpy as np
import pytest

from fastem import available_backends
from fastem._mixture import Mixture, precisions_cholesky_from_covariances
from fastem.datasets import make_mixture, random_covariance

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# Every backend that runs here; FASTEM_TEST_BACKENDS=numba,numpy narrows it.
_AVAILABLE = [name for name, reason in available_backends().items() if reason is None]
BACKENDS = [
    name for name in os.environ.get("FASTEM_TEST_BACKENDS", ",".join(_AVAILABLE)).split(",") if name
]
COMPILED_BACKENDS = [name for name in BACKENDS if name != "numpy"]


def pytest_configure(config):
    """Every EM run checks that its lower bound never decreases; Numba's warnings are errors."""
    import fastem._em

    fastem._em.CHECK_MONOTONE = True
    if importlib.util.find_spec("numba") is not None:  # the suite also runs without Numba
        config.addinivalue_line("filterwarnings", "error::numba.NumbaWarning")


def pytest_report_header(config):
    unavailable = {n: r for n, r in available_backends().items() if r is not None}
    return [f"fastem backends under test: {', '.join(BACKENDS)}"] + [
        f"fastem backend {n} skipped: {r}" for n, r in unavailable.items()
    ]


@pytest.fixture(params=COMPILED_BACKENDS)
def compiled_backend(request):
    return request.param


def random_mixture(rng, covariance_type, n_components, n_features, scale=1.0, offset=0.0):
    """A random valid mixture of the given covariance type (float64)."""
    weights = rng.dirichlet(np.full(n_components, 3.0))
    means = offset + rng.normal(scale=3.0 * scale, size=(n_components, n_features))
    if covariance_type == "full":
        covariances = np.stack(
            [random_covariance(rng, n_features, scale**2) for _ in range(n_components)]
        )
    elif covariance_type == "tied":
        covariances = random_covariance(rng, n_features, scale**2)
    elif covariance_type == "diag":
        covariances = scale**2 * rng.uniform(0.3, 3.0, size=(n_components, n_features))
    else:
        covariances = scale**2 * rng.uniform(0.3, 3.0, size=n_components)
    prec_chol = precisions_cholesky_from_covariances(covariances, covariance_type)
    return Mixture(covariance_type, weights, means, prec_chol)


def init_arrays(mixture):
    """weights_init / means_init / precisions_init of a Mixture, for both libraries."""
    from fastem._mixture import precisions_from_cholesky

    return {
        "weights_init": mixture.weights,
        "means_init": mixture.means,
        "precisions_init": precisions_from_cholesky(
            mixture.precisions_cholesky, mixture.covariance_type
        ),
    }


def kmeans_start(X, covariance_type="full", n_components=4):
    """Initial parameters from fastem's k-means on X: one start shared by compared fits."""
    from fastem import GaussianMixture

    start = GaussianMixture(
        n_components, covariance_type=covariance_type, max_iter=0, random_state=0
    )
    return init_arrays(start.fit(X)._mixture)


def relative_error(actual, expected):
    """max |actual − expected| / max |expected|: a norm-wise relative error."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


@pytest.fixture(scope="session")
def blobs():
    """A small, well-separated 3-D mixture of 4 components."""
    X, _ = make_mixture(3000, 3, 4, separation=6.0, random_state=7)
    return X
