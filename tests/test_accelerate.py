"""GaussianMixture(accelerate=True): SQUAREM reaches EM's optimum in fewer passes."""

import numpy as np
import pytest
from sklearn import datasets as sk_datasets

from fastem import GaussianMixture
from fastem.datasets import make_mixture

from .conftest import BACKENDS, COMPILED_BACKENDS, COVARIANCE_TYPES

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _datasets():
    overlapping, _ = make_mixture(4000, 3, 4, separation=1.5, random_state=3)
    return {
        "iris": (sk_datasets.load_iris().data, 3),
        "wine": (sk_datasets.load_wine().data[:, :6], 3),
        "overlapping": (overlapping, 4),
    }


DATASETS = _datasets()


def _pair(X, k, **kwargs):
    common = dict(random_state=0, tol=1e-8, max_iter=3000, **kwargs)
    plain = GaussianMixture(k, **common).fit(X)
    fast = GaussianMixture(k, accelerate=True, **common).fit(X)
    return plain, fast


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("name", DATASETS)
def test_reaches_the_optimum_of_plain_em(name, covariance_type, backend):
    X, k = DATASETS[name]
    plain, fast = _pair(X, k, covariance_type=covariance_type, backend=backend)
    assert plain.converged_ and fast.converged_
    # the same optimum: its log-likelihood within tol, its means close (not equal: on
    # overlapping components the likelihood is flat along some directions, where plain
    # EM is still crawling when its bound changes by less than tol)
    assert fast.score(X) == pytest.approx(plain.score(X), abs=1e-6)
    order = [int(np.argmin(np.linalg.norm(fast.means_ - m, axis=1))) for m in plain.means_]
    assert sorted(order) == list(range(k))
    assert np.allclose(fast.means_[order], plain.means_, atol=1e-2 * np.abs(X).max())
    assert fast.n_iter_ <= plain.n_iter_ + 2
    # the bound of the passes kept never decreases (the suite also checks every run)
    bounds = np.asarray(fast.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-9 * (1 + np.abs(bounds[1:])))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "VEV", "EVI"])
def test_fewer_passes_where_em_crawls(covariance_type):
    X, k = DATASETS["overlapping"]
    plain, fast = _pair(X, k, covariance_type=covariance_type)
    assert plain.n_iter_ > 40
    assert fast.n_iter_ < 0.6 * plain.n_iter_
    assert fast.score(X) >= plain.score(X) - 1e-6


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
def test_bitwise_identical_for_any_thread_count(backend):
    X, k = DATASETS["overlapping"]
    fits = [
        GaussianMixture(k, accelerate=True, backend=backend, n_jobs=n_jobs, random_state=0).fit(X)
        for n_jobs in (1, 2)
    ]
    for name in ("means_", "covariances_", "lower_bounds_"):
        assert np.array_equal(getattr(fits[0], name), getattr(fits[1], name)), name
    assert fits[0].n_iter_ == fits[1].n_iter_


def test_with_missing_values_and_weights():
    X, k = DATASETS["overlapping"]
    holed = X.copy()
    holed[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    weights = np.random.default_rng(1).uniform(0.5, 2, size=X.shape[0])
    common = dict(random_state=0, tol=1e-8, max_iter=3000, missing="em")
    plain = GaussianMixture(k, **common).fit(holed, sample_weight=weights)
    fast = GaussianMixture(k, accelerate=True, **common).fit(holed, sample_weight=weights)
    assert fast.lower_bound_ == pytest.approx(plain.lower_bound_, abs=1e-6)
    assert fast.n_iter_ < plain.n_iter_


def test_the_parameter_is_checked():
    with pytest.raises(TypeError, match="accelerate"):
        GaussianMixture(2, accelerate="yes").fit(DATASETS["iris"][0])
