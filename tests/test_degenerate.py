"""Degenerate data: fastem recovers (and says what it did) or raises a clear error; never NaN."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastem import DegenerateComponentWarning, GaussianMixture

from .conftest import BACKENDS, COVARIANCE_TYPES

_rng = np.random.default_rng(0)
_BASE = np.concatenate([_rng.normal(size=(150, 3)), _rng.normal(size=(150, 3)) + 6.0])

DEGENERATE = {
    "duplicate points": np.repeat(_BASE[:30], 10, axis=0),
    "constant feature": np.c_[_BASE, np.full(300, 3.0)],
    "more features than points": _rng.normal(size=(30, 20)),
    "collapsed point": np.r_[_BASE, np.full((6, 3), 40.0)],
    "offset 1e8": _BASE + 1e8,
    "scaled 1e-8": _BASE * 1e-8,
    "scaled 1e8": _BASE * 1e8,
}


def _fit(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(random_state=0, max_iter=100, **params).fit(X)


def _assert_valid(model):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(model, name))), name
    assert np.isfinite(model.lower_bound_)
    assert model.weights_.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("reg_covar", [1e-6, 0.0])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("case", DEGENERATE)
def test_degenerate_data_gives_a_valid_model(case, covariance_type, reg_covar):
    # Every fit here also runs the suite's monotone lower-bound check (conftest).
    model = _fit(
        DEGENERATE[case], n_components=4, covariance_type=covariance_type, reg_covar=reg_covar
    )
    _assert_valid(model)
    assert np.all(np.isfinite(model.score_samples(DEGENERATE[case])))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_collapsed_component_is_repaired_with_a_warning(covariance_type, backend):
    # Six copies of one point far away, owned by the third component: with
    # reg_covar=0 its covariance is exactly 0, which scikit-learn reports as
    # "ill-defined empirical covariance". fastem regularises that component only.
    X = DEGENERATE["collapsed point"]
    precision_scale = np.array([1.0, 1.0, 1e4])
    precisions = {
        "full": precision_scale[:, None, None] * np.eye(3),
        "diag": precision_scale[:, None] * np.ones(3),
        "spherical": precision_scale,
    }[covariance_type]
    init = {
        "weights_init": [0.49, 0.49, 0.02],
        "means_init": [np.zeros(3), np.full(3, 6.0), np.full(3, 40.0)],
        "precisions_init": precisions,
    }
    with pytest.warns(DegenerateComponentWarning, match=r"component 2 \(\+"):
        # (not _fit: it silences ConvergenceWarning, of which this is a subclass)
        model = GaussianMixture(
            3,
            covariance_type=covariance_type,
            reg_covar=0.0,
            backend=backend,
            max_iter=20,
            tol=0.0,
            **init,
        ).fit(X)
    _assert_valid(model)
    np.testing.assert_allclose(model.means_[2], 40.0)
    assert model.weights_[2] == pytest.approx(6 / X.shape[0], rel=1e-9)
    # The other components are untouched by the repair: no jitter on them.
    assert np.all(np.abs(model.means_[0]) < 1.0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_all_points_identical_without_regularisation_is_an_error(covariance_type):
    with pytest.raises(ValueError, match="no spread"):
        _fit(np.ones((50, 3)), n_components=2, covariance_type=covariance_type, reg_covar=0.0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_all_points_identical_with_regularisation_fits(covariance_type):
    model = _fit(np.ones((50, 3)), n_components=2, covariance_type=covariance_type)
    _assert_valid(model)
    np.testing.assert_allclose(model.means_, 1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_identical_initial_components(backend):
    start = _fit(_BASE, n_components=2)
    means = np.repeat(start.means_[:1], 2, axis=0)
    precisions = np.repeat(start.precisions_[:1], 2, axis=0)
    model = _fit(
        _BASE,
        n_components=2,
        means_init=means,
        precisions_init=precisions,
        weights_init=[0.5, 0.5],
        backend=backend,
    )
    _assert_valid(model)  # symmetric start: EM keeps them equal, but stays valid


@pytest.mark.parametrize("backend", BACKENDS)
def test_component_whose_weight_goes_to_zero(backend):
    # A component started far from every point gets no responsibility.
    start = _fit(_BASE, n_components=2)
    means = np.r_[start.means_, [[1e3, 1e3, 1e3]]]
    precisions = np.r_[start.precisions_, start.precisions_[:1]]
    model = _fit(
        _BASE,
        n_components=3,
        means_init=means,
        precisions_init=precisions,
        weights_init=[0.45, 0.45, 0.1],
        backend=backend,
    )
    _assert_valid(model)
    assert model.weights_.min() < 1e-10


def test_components_far_apart_log_sum_exp_is_stable():
    # Components 1e3 standard deviations apart: responsibilities are exactly 0/1.
    rng = np.random.default_rng(3)
    X = np.r_[rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 1e3]
    model = _fit(X, n_components=2)
    _assert_valid(model)
    proba = model.predict_proba(X)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(np.isfinite(model.score_samples(X)))
