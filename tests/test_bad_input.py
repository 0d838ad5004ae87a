"""Bad input: a clear exception naming the problem, raised before any work starts."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from fastem import GaussianMixture

from .conftest import BACKENDS


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 5.0])


def _fit(X, **params):
    return GaussianMixture(2, random_state=0, **params).fit(X)


@pytest.mark.parametrize(
    "value, word", [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")]
)
def test_non_finite_x_names_count_and_position(X, value, word):
    X = X.copy()
    X[17, 1] = value
    X[30, 0] = value
    with pytest.raises(ValueError, match=rf"2 {word} value\(s\); the first is .* row 17, column 1"):
        _fit(X)


def test_non_finite_x_at_predict(X):
    model = _fit(X)
    bad = X.copy()
    bad[3, 0] = np.nan
    for method in (model.predict, model.predict_proba, model.score_samples, model.score):
        with pytest.raises(ValueError, match="1 NaN value"):
            method(bad)


@pytest.mark.parametrize(
    "bad_X, message",
    [
        (np.empty((0, 2)), "0 sample"),
        (np.arange(10.0), "Expected 2D array"),
        (np.zeros((4, 3, 2)), "dim 3"),
        (np.array([["a", "b"], ["c", "d"]], dtype=object), "convert|string"),
        (np.ones((5, 2)) * (1 + 1j), "[Cc]omplex"),
    ],
)
def test_malformed_x(bad_X, message):
    with pytest.raises(ValueError, match=message):
        _fit(bad_X)


def test_fewer_samples_than_components():
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(5).fit(np.random.default_rng(0).normal(size=(4, 2)))


@pytest.mark.parametrize(
    "params, error, message",
    [
        ({"n_components": 0}, ValueError, "n_components"),
        ({"n_components": 1.5}, TypeError, "n_components"),
        ({"covariance_type": "banana"}, ValueError, "covariance_type"),
        ({"init_params": "banana"}, ValueError, "init_params"),
        ({"backend": "banana"}, ValueError, "backend"),
        ({"tol": -1.0}, ValueError, "tol"),
        ({"reg_covar": -1e-6}, ValueError, "reg_covar"),
        ({"max_iter": -1}, ValueError, "max_iter"),
        ({"n_init": 0}, ValueError, "n_init"),
    ],
)
def test_bad_parameter(X, params, error, message):
    params = {"n_components": 2, **params}
    with pytest.raises(error, match=message):
        GaussianMixture(**params).fit(X)


def test_max_iter_zero_is_allowed(X):
    model = GaussianMixture(2, max_iter=0, random_state=0).fit(X)
    assert model.means_.shape == (2, 2)


@pytest.mark.parametrize(
    "weights, message",
    [
        (-np.ones(120), "negative"),
        (np.full(120, np.nan), "NaN"),
        (np.zeros(120), "sums to zero"),
        (np.ones(119), "one weight per row"),
        (np.ones((120, 2)), "one weight per row"),
    ],
)
def test_bad_sample_weight(X, weights, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2).fit(X, sample_weight=weights)


@pytest.mark.parametrize(
    "covariance_type, params, message",
    [
        ("full", {"weights_init": [0.5, 0.2]}, "normalized"),
        ("full", {"weights_init": [0.5, 0.25, 0.25]}, "shape"),
        ("full", {"means_init": np.zeros((3, 2))}, "shape"),
        ("full", {"precisions_init": np.ones((2, 2, 2))}, "positive-definite"),
        ("full", {"precisions_init": np.array([[[1.0, 0.5], [0.0, 1.0]]] * 2)}, "symmetric"),
        ("full", {"precisions_init": np.ones((2, 3, 3))}, "shape"),
        ("tied", {"precisions_init": -np.eye(2)}, "positive-definite"),
        ("diag", {"precisions_init": -np.ones((2, 2))}, "positive"),
        ("spherical", {"precisions_init": np.ones(3)}, "shape"),
    ],
)
def test_bad_initial_parameters(X, covariance_type, params, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, covariance_type=covariance_type, **params).fit(X)


def test_predict_before_fit(X):
    with pytest.raises(NotFittedError):
        GaussianMixture(2).predict(X)


def test_predict_with_wrong_number_of_features(X):
    model = _fit(X)
    with pytest.raises(ValueError, match="3 features"):
        model.predict(np.ones((5, 3)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "make",
    [
        lambda X: (X * 10).astype(np.int64),
        lambda X: X > 0,
        lambda X: np.asfortranarray(X),
        lambda X: np.repeat(X, 2, axis=1)[:, ::2],
    ],
    ids=["int", "bool", "fortran", "strided"],
)
def test_accepted_layouts_match_float64(X, backend, make):
    converted = make(X)
    as_float = np.ascontiguousarray(converted, dtype=np.float64)
    a = GaussianMixture(2, random_state=0, backend=backend).fit(converted)
    b = GaussianMixture(2, random_state=0, backend=backend).fit(as_float)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)


def test_read_only_memmap_is_used_in_place(X, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    model = GaussianMixture(2, random_state=0).fit(mapped)
    np.testing.assert_allclose(model.means_, _fit(X).means_, rtol=1e-12)
    model.predict(mapped)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_callers_arrays_are_never_written(X, backend, covariance_type):
    rng = np.random.default_rng(1)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    start = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    init = {
        "weights_init": start.weights_.copy(),
        "means_init": start.means_.copy(),
        "precisions_init": start.precisions_.copy(),
    }
    arrays = [X, weights, *init.values()]
    copies = [a.copy() for a in arrays]
    for array in arrays:
        array.flags.writeable = False  # a write raises instead of passing unnoticed
    model = GaussianMixture(2, covariance_type=covariance_type, backend=backend, **init)
    model.fit(X, sample_weight=weights)
    model.predict_proba(X)
    for array, copy in zip(arrays, copies, strict=True):
        np.testing.assert_array_equal(array, copy)
