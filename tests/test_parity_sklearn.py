"""fastem reproduces scikit-learn's GaussianMixture from the same initial parameters."""

import warnings

import numpy as np
import pytest
from sklearn import datasets as sk_datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

from fastem import GaussianMixture
from fastem.datasets import make_mixture

from .conftest import BACKENDS, COVARIANCE_TYPES, relative_error

PARITY = 1e-7


def _mixture_data(n_samples, n_features, n_components, separation, seed):
    return make_mixture(
        n_samples, n_features, n_components, separation=separation, random_state=seed
    )[0], n_components


DATASETS = {
    "separated-5d": lambda: _mixture_data(2000, 5, 4, 5.0, 1),
    "overlapping-3d": lambda: _mixture_data(3000, 3, 5, 1.5, 2),
    "iris": lambda: (sk_datasets.load_iris().data, 3),
    "wine": lambda: (sk_datasets.load_wine().data, 3),
    "digits": lambda: (sk_datasets.load_digits().data, 6),
}


def _initial_parameters(X, n_components, covariance_type):
    """A k-means start (fastem's), handed to both libraries."""
    start = GaussianMixture(
        n_components, covariance_type=covariance_type, max_iter=0, random_state=0, reg_covar=1e-3
    ).fit(X)
    return {
        "weights_init": start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }


def _fit(estimator_class, X, n_components, covariance_type, init, **params):
    model = estimator_class(
        n_components, covariance_type=covariance_type, tol=0.0, max_iter=30, **init, **params
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_fit_matches_sklearn(dataset, covariance_type, backend):
    X, n_components = DATASETS[dataset]()
    init = _initial_parameters(X, n_components, covariance_type)
    ours = _fit(GaussianMixture, X, n_components, covariance_type, init, backend=backend)
    theirs = _fit(SklearnGaussianMixture, X, n_components, covariance_type, init)

    assert ours.n_iter_ == theirs.n_iter_ == 30
    for attribute in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        error = relative_error(getattr(ours, attribute), getattr(theirs, attribute))
        assert error < PARITY, f"{attribute}: relative error {error:.2e}"
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=PARITY)
    np.testing.assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=PARITY)
    assert relative_error(ours.predict_proba(X), theirs.predict_proba(X)) < 1e-6
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-7)
    assert ours.bic(X) == pytest.approx(theirs.bic(X), rel=1e-7)
    assert ours.aic(X) == pytest.approx(theirs.aic(X), rel=1e-7)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_predictions_match_sklearn_on_the_same_model(covariance_type, blobs):
    """Given identical parameters, every prediction method agrees with scikit-learn."""
    init = _initial_parameters(blobs, 4, covariance_type)
    ours = _fit(GaussianMixture, blobs, 4, covariance_type, init)
    theirs = SklearnGaussianMixture(4, covariance_type=covariance_type)
    for attribute in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        setattr(theirs, attribute, getattr(ours, attribute))
    theirs.n_features_in_ = ours.n_features_in_
    queries = np.random.default_rng(3).normal(scale=8.0, size=(500, 3))
    np.testing.assert_array_equal(ours.predict(queries), theirs.predict(queries))
    np.testing.assert_allclose(
        ours.predict_proba(queries), theirs.predict_proba(queries), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        ours.score_samples(queries), theirs.score_samples(queries), rtol=1e-12
    )
    assert ours.score(queries) == pytest.approx(theirs.score(queries), rel=1e-12)
    assert ours._n_parameters() == theirs._n_parameters()


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_each_init_method_reaches_a_likelihood_as_good_as_sklearn(
    init_params, covariance_type, blobs
):
    """fastem's own initialisations are as good as scikit-learn's (n_init=3, best kept)."""
    params = dict(
        covariance_type=covariance_type,
        init_params=init_params,
        n_init=3,
        random_state=0,
        max_iter=200,
    )
    ours = GaussianMixture(4, **params).fit(blobs)
    theirs = SklearnGaussianMixture(4, **params).fit(blobs)
    assert ours.converged_
    assert ours.score(blobs) > theirs.score(blobs) - 0.01 * abs(theirs.score(blobs))


def test_random_init_draws_the_same_responsibilities_as_sklearn(blobs):
    """'random' reproduces scikit-learn's draw, so both start from the same model."""
    ours = GaussianMixture(4, init_params="random", max_iter=0, random_state=5).fit(blobs)
    theirs = SklearnGaussianMixture(4, init_params="random", max_iter=1, random_state=5)
    theirs._initialize_parameters(blobs, np.random.RandomState(5))
    np.testing.assert_allclose(ours.weights_, theirs.weights_, rtol=1e-9)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-9)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-9)
