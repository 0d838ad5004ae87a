"""Properties of every fit, on data drawn by hypothesis, for every backend available."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

import fastem._em
from fastem import GaussianMixture
from fastem.datasets import make_mixture

from .conftest import BACKENDS, COVARIANCE_TYPES

PROPERTY_SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def mixtures(draw):
    n_components = draw(st.integers(1, 4))
    n_features = draw(st.integers(1, 4))
    n_samples = draw(st.integers(20 * n_components, 300))
    seed = draw(st.integers(0, 2**16))
    X, _ = make_mixture(n_samples, n_features, n_components, random_state=seed)
    return X, n_components, seed


def _fit(X, n_components, seed, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(n_components, random_state=seed, max_iter=50, **params).fit(X)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@PROPERTY_SETTINGS
@given(data=mixtures())
def test_fit_is_a_valid_mixture_with_monotone_bound(data, covariance_type, backend):
    X, n_components, seed = data
    model = _fit(X, n_components, seed, covariance_type=covariance_type, backend=backend)
    bounds = np.array(model.lower_bounds_)
    assert np.all(np.isfinite(bounds))
    tolerance = fastem._em.monotone_tolerance(np.asarray(X).dtype)
    assert np.all(np.diff(bounds) >= -tolerance * (1 + np.abs(bounds[:-1])))
    assert model.weights_.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(model.weights_ >= 0)
    full = {
        "full": model.covariances_,
        "tied": model.covariances_[None],
        "diag": np.apply_along_axis(np.diag, -1, np.atleast_2d(model.covariances_)),
        "spherical": model.covariances_[:, None, None] * np.eye(X.shape[1]),
    }
    for matrix in full[covariance_type]:
        np.testing.assert_allclose(matrix, matrix.T, rtol=0, atol=1e-12 * np.abs(matrix).max())
        assert np.linalg.eigvalsh(matrix).min() > 0


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@PROPERTY_SETTINGS
@given(data=mixtures(), scale=st.floats(1e-3, 1e3), offset=st.floats(-1e6, 1e6))
def test_affine_equivariance(data, scale, offset, covariance_type):
    # Fit on a·X + b equals the transformed fit on X (reg_covar scaled by a²).
    X, n_components, seed = data
    base = _fit(X, n_components, seed, covariance_type=covariance_type, reg_covar=1e-6)
    moved = _fit(
        scale * X + offset,
        n_components,
        seed,
        covariance_type=covariance_type,
        reg_covar=1e-6 * scale**2,
    )
    np.testing.assert_allclose(moved.weights_, base.weights_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        moved.means_, scale * base.means_ + offset, rtol=1e-6, atol=1e-6 * scale
    )
    np.testing.assert_allclose(
        moved.covariances_, scale**2 * base.covariances_, rtol=1e-5, atol=1e-8 * scale**2
    )


@pytest.mark.parametrize("backend", BACKENDS)
@PROPERTY_SETTINGS
@given(data=mixtures(), repeats_seed=st.integers(0, 2**16))
def test_integer_weights_equal_repeated_rows(data, repeats_seed, backend):
    X, n_components, seed = data
    repeats = np.random.default_rng(repeats_seed).integers(1, 4, size=X.shape[0])
    init = _fit(X, n_components, seed, backend=backend)
    params = {
        "weights_init": init.weights_,
        "means_init": init.means_,
        "precisions_init": init.precisions_,
        "backend": backend,
        "tol": 0.0,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = GaussianMixture(n_components, max_iter=50, **params).fit(
            X, sample_weight=repeats
        )
    repeated = _fit(np.repeat(X, repeats, axis=0), n_components, seed, **params)
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_row_permutation_changes_nothing_beyond_rounding(backend):
    X, _ = make_mixture(5000, 3, 3, random_state=4)
    init = _fit(X, 3, 0, backend=backend)
    params = {
        "weights_init": init.weights_,
        "means_init": init.means_,
        "precisions_init": init.precisions_,
        "backend": backend,
        "tol": 0.0,
    }
    a = _fit(X, 3, 0, **params)
    b = _fit(X[np.random.default_rng(5).permutation(X.shape[0])], 3, 0, **params)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=1e-9)


def test_float32_loglik_close_to_float64():
    X, _ = make_mixture(20000, 4, 3, random_state=6)
    a = _fit(X, 3, 0, tol=0.0)
    b = _fit(X.astype(np.float32), 3, 0, tol=0.0)
    assert b.score(X.astype(np.float32)) == pytest.approx(a.score(X), rel=1e-5)
