"""Saved models: the .npz round trip, pickle, and files that must be refused."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import fastem._persistence
from fastem import GaussianMixture, load
from fastem.datasets import make_mixture

from .conftest import COVARIANCE_TYPES

FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
          "converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_",
          "backend_")


@pytest.fixture(scope="module")
def data():
    X, _ = make_mixture(3000, 3, 3, random_state=4)
    return X


def _fitted(X, **params):
    params = {"random_state": 0, "max_iter": 30, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(3, **params).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_loaded_model_predicts_exactly_as_the_saved_one(data, covariance_type, tmp_path):
    model = _fitted(data, covariance_type=covariance_type, tol=1e-5, reg_covar=1e-5)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = load(path)
    assert loaded.get_params() == model.get_params()
    for name in FITTED:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name), err_msg=name)
    np.testing.assert_array_equal(loaded.predict_proba(data), model.predict_proba(data))
    np.testing.assert_array_equal(loaded.score_samples(data), model.score_samples(data))
    np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
    assert loaded.bic(data) == model.bic(data)


def test_a_loaded_model_keeps_init_arrays_and_warm_starts(data, tmp_path):
    means = data[:3].copy()
    model = _fitted(data, means_init=means, warm_start=True, max_iter=3)
    model.save(tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.means_init, means)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data)
        loaded.fit(data)  # warm start from the loaded parameters: the same next iterations
    np.testing.assert_array_equal(loaded.means_, model.means_)


def test_feature_names_survive_the_round_trip(data, tmp_path):
    model = _fitted(data)
    model.feature_names_in_ = np.array(["a", "b", "c"], dtype=object)  # as a DataFrame fit sets
    model.save(tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert loaded.feature_names_in_.dtype == object
    assert list(loaded.feature_names_in_) == ["a", "b", "c"]


def test_pickle_round_trip(data):
    model = _fitted(data)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(data), model.predict_proba(data))


def test_saving_an_unfitted_model_is_refused(tmp_path):
    with pytest.raises(NotFittedError):
        GaussianMixture(2).save(tmp_path / "model.npz")


def test_a_newer_format_is_refused_with_a_clear_error(data, tmp_path, monkeypatch):
    model = _fitted(data)
    newer = fastem._persistence.FORMAT_VERSION + 1
    monkeypatch.setattr(fastem._persistence, "FORMAT_VERSION", newer)
    model.save(tmp_path / "model.npz")
    monkeypatch.undo()
    with pytest.raises(ValueError, match="model format 2 .* Upgrade fastem"):
        load(tmp_path / "model.npz")


def test_files_that_are_not_models_are_refused(tmp_path):
    np.savez(tmp_path / "arrays.npz", weights_=np.ones(2))
    with pytest.raises(ValueError, match="not a fastem model file"):
        load(tmp_path / "arrays.npz")
    np.savez(tmp_path / "pickled.npz", format=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match="not a fastem model file"):
        load(tmp_path / "pickled.npz")
