"""BayesianGaussianMixture: scikit-learn's results, on every backend, every row source."""

import copy
import warnings

import numpy as np
import pytest
from sklearn import config_context
from sklearn import datasets as sk_datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SklearnBayesianGaussianMixture

from fastem import BayesianGaussianMixture, load
from fastem.datasets import make_mixture

from .conftest import BACKENDS, COMPILED_BACKENDS, COVARIANCE_TYPES, relative_error

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
FITTED = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "mean_precision_",
    "degrees_of_freedom_",
    "weight_concentration_",
    "mean_prior_",
    "covariance_prior_",
    "lower_bounds_",
)


def _datasets():
    iris = sk_datasets.load_iris().data
    wine = sk_datasets.load_wine().data[:, :6]
    faithful_like, _ = make_mixture(600, 2, 3, separation=2.0, random_state=11)
    return {"iris": iris, "wine": wine, "overlapping": faithful_like}


DATASETS = _datasets()


def _as_array(value):
    return np.asarray(np.stack(value) if isinstance(value, tuple) else value, dtype=np.float64)


def _assert_same_fit(ours, theirs, rtol):
    for name in FITTED:
        mine = _as_array(getattr(ours, name))
        reference = np.ravel(_as_array(getattr(theirs, name))) if name == "lower_bounds_" else None
        reference = _as_array(getattr(theirs, name)) if reference is None else reference
        assert relative_error(mine, reference.reshape(mine.shape)) < rtol, name
    assert ours.n_iter_ == theirs.n_iter_
    for name in (
        "weight_concentration_prior_",
        "mean_precision_prior_",
        "degrees_of_freedom_prior_",
    ):
        assert getattr(ours, name) == pytest.approx(getattr(theirs, name), rel=1e-15)


@pytest.mark.parametrize("dataset", sorted(DATASETS))
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
def test_fit_matches_sklearn_from_the_same_start(dataset, covariance_type, prior_type, init_params):
    """Same initial responsibilities (same random draws), tol=0, 30 iterations: same posterior."""
    if init_params == "random_from_data" and covariance_type == "tied":
        pytest.skip(
            "scikit-learn's tied start sums X.T @ X over every row although only "
            "n_components rows have responsibilities (README: differences)"
        )
    X = DATASETS[dataset]
    params = dict(
        n_components=6,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        init_params=init_params,
        random_state=0,
        max_iter=30,
        tol=0.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = SklearnBayesianGaussianMixture(**params).fit(X)
        ours = BayesianGaussianMixture(**params).fit(X)
    _assert_same_fit(ours, theirs, rtol=1e-7)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-7)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_given_priors_match_sklearn(covariance_type):
    X = DATASETS["iris"]
    n_features = X.shape[1]
    covariance_prior = {
        "full": np.cov(X.T) * 2.0,
        "tied": np.cov(X.T) * 0.5,
        "diag": np.var(X, axis=0) + 0.3,
        "spherical": 0.7,
    }[covariance_type]
    params = dict(
        n_components=4,
        covariance_type=covariance_type,
        weight_concentration_prior=0.01,
        mean_precision_prior=0.3,
        mean_prior=np.arange(n_features, dtype=float),
        degrees_of_freedom_prior=n_features + 2.5,
        covariance_prior=covariance_prior,
        init_params="random",
        random_state=3,
        max_iter=20,
        tol=0.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = SklearnBayesianGaussianMixture(**params).fit(X)
        ours = BayesianGaussianMixture(**params).fit(X)
    _assert_same_fit(ours, theirs, rtol=1e-7)


def _fit_all_backends(X, **params):
    return {
        backend: BayesianGaussianMixture(backend=backend, **params).fit(X) for backend in BACKENDS
    }


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_backends_agree(covariance_type):
    X, _ = make_mixture(5000, 4, 5, separation=3.0, random_state=2)
    fits = _fit_all_backends(
        X,
        n_components=8,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=1,
        max_iter=25,
        tol=0.0,
    )
    reference = fits[BACKENDS[0]]
    for fitted in fits.values():
        for name in FITTED:
            error = relative_error(
                _as_array(getattr(fitted, name)), _as_array(getattr(reference, name))
            )
            assert error < 1e-10, name


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bitwise_identical_for_any_thread_count(backend, covariance_type):
    X, _ = make_mixture(40_000, 8, 5, separation=3.0, random_state=4)
    params = dict(
        n_components=6, covariance_type=covariance_type, random_state=0, max_iter=10, tol=0.0
    )
    one = BayesianGaussianMixture(backend=backend, n_jobs=1, **params).fit(X)
    two = BayesianGaussianMixture(backend=backend, n_jobs=2, **params).fit(X)
    for name in FITTED:
        np.testing.assert_array_equal(_as_array(getattr(one, name)), _as_array(getattr(two, name)))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_lower_bound_never_decreases(covariance_type, prior_type):
    X, _ = make_mixture(3000, 3, 4, separation=1.5, random_state=8)
    model = BayesianGaussianMixture(
        n_components=10,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        random_state=0,
        max_iter=200,
        tol=1e-8,
    ).fit(X)
    bounds = np.asarray(model.lower_bounds_)
    assert bounds.size > 5
    assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:]))


def test_dirichlet_process_switches_off_unneeded_components():
    X, labels = make_mixture(6000, 2, 3, separation=6.0, random_state=0)
    model = BayesianGaussianMixture(
        n_components=10, weight_concentration_prior=1e-3, random_state=0, max_iter=500
    ).fit(X)
    assert model.converged_
    assert np.sum(model.weights_ > 0.01) == 3
    assert np.sum(model.weights_) == pytest.approx(1.0)


def test_integer_weights_are_repeated_rows():
    X, _ = make_mixture(400, 2, 3, separation=4.0, random_state=1)
    counts = np.random.default_rng(0).integers(0, 4, size=X.shape[0])
    params = dict(n_components=5, init_params="random_from_data", random_state=0, max_iter=20)
    params.update(tol=0.0)
    # the same initial rows: the weighted start draws rows ∝ weight, so give both the
    # same start by fitting zero iterations on the repeated rows first
    repeated = np.repeat(X, counts, axis=0)
    start = BayesianGaussianMixture(**{**params, "max_iter": 1}).fit(repeated)
    weighted, plain = copy.deepcopy(start), copy.deepcopy(start)
    weighted.set_params(warm_start=True, max_iter=20).fit(X, sample_weight=counts)
    plain.set_params(warm_start=True, max_iter=20).fit(repeated)
    for name in FITTED:
        assert (
            relative_error(_as_array(getattr(weighted, name)), _as_array(getattr(plain, name)))
            < 1e-10
        ), name
    # scaled weights change the counts, hence the posterior: they are not scale-free
    doubled = copy.deepcopy(start).set_params(warm_start=True, max_iter=20)
    doubled.fit(X, sample_weight=2.0 * counts)
    assert relative_error(doubled.mean_precision_, plain.mean_precision_) > 0.1


def _warm_pair(X, **params):
    """Two copies of a model after one iteration, set to continue: one start for both fits."""
    start = BayesianGaussianMixture(max_iter=1, **params).fit(X)
    return (
        copy.deepcopy(start).set_params(warm_start=True, max_iter=12),
        copy.deepcopy(start).set_params(warm_start=True, max_iter=12),
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_chunked_fit_equals_in_memory_fit(tmp_path, covariance_type, backend):
    X, _ = make_mixture(30_000, 3, 4, separation=3.0, random_state=3)
    weights = np.random.default_rng(2).uniform(0.5, 3.0, size=X.shape[0])
    in_memory, chunked = _warm_pair(
        X, n_components=6, covariance_type=covariance_type, random_state=0, tol=0.0, backend=backend
    )
    in_memory.fit(X, sample_weight=weights)
    np.save(tmp_path / "X.npy", X)
    X_mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    with config_context(working_memory=0.1):
        chunked.fit(X_mapped, sample_weight=weights)
    for name in FITTED:
        ours, reference = _as_array(getattr(chunked, name)), _as_array(getattr(in_memory, name))
        if backend in COMPILED_BACKENDS:
            np.testing.assert_array_equal(ours, reference, err_msg=name)
        else:
            assert relative_error(ours, reference) < 1e-12, name


def test_out_of_core_initialisation_counts_every_row(tmp_path):
    X, _ = make_mixture(40_000, 3, 4, separation=5.0, random_state=6)
    np.save(tmp_path / "X.npy", X)
    X_mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    with config_context(working_memory=0.1):
        sampled = BayesianGaussianMixture(n_components=6, max_iter=0, random_state=0)
        sampled.fit(X_mapped)
    # the start's counts are those of all rows, although k-means saw a sample
    assert np.sum(sampled.mean_precision_ - sampled.mean_precision_prior_) == pytest.approx(
        X.shape[0], rel=1e-9
    )


def test_dask_fit_equals_in_memory_fit():
    da = pytest.importorskip("dask.array")
    X, _ = make_mixture(20_000, 3, 4, separation=3.0, random_state=5)
    in_memory, distributed = _warm_pair(X, n_components=6, random_state=0, tol=0.0)
    in_memory.fit(X)
    distributed.fit(da.from_array(X, chunks=(3_001, 3)))
    for name in FITTED:
        assert (
            relative_error(
                _as_array(getattr(distributed, name)), _as_array(getattr(in_memory, name))
            )
            < 1e-10
        ), name
    np.testing.assert_array_equal(
        distributed.predict(da.from_array(X, 5000)).compute(), in_memory.predict(X)
    )


def test_float32_data_keeps_float32_and_agrees():
    X, _ = make_mixture(5000, 3, 4, separation=4.0, random_state=9)
    params = dict(
        n_components=5, init_params="random_from_data", random_state=0, max_iter=20, tol=0
    )
    single = BayesianGaussianMixture(**params).fit(X.astype(np.float32))
    double = BayesianGaussianMixture(**params).fit(X)
    assert single.means_.dtype == np.float32
    assert relative_error(single.means_, double.means_) < 1e-4
    assert single.lower_bound_ == pytest.approx(double.lower_bound_, rel=1e-4)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_save_and_load_give_the_same_model(tmp_path, covariance_type, prior_type):
    X = DATASETS["iris"]
    model = BayesianGaussianMixture(
        n_components=4,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        random_state=0,
    ).fit(X)
    model.save(tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert type(loaded) is BayesianGaussianMixture
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))
    for name in FITTED:
        np.testing.assert_array_equal(
            _as_array(getattr(loaded, name)), _as_array(getattr(model, name))
        )
    # a continued fit starts from the loaded posterior as from the original
    again = copy.deepcopy(model).set_params(warm_start=True, max_iter=3, tol=0.0).fit(X)
    loaded.set_params(warm_start=True, max_iter=3, tol=0.0).fit(X)
    np.testing.assert_array_equal(loaded.means_, again.means_)


def test_a_crafted_file_is_refused(tmp_path):
    X = DATASETS["iris"]
    model = BayesianGaussianMixture(n_components=3, random_state=0).fit(X)
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path) as archive:
        contents = dict(archive)
    contents["mean_precision_"] = np.ones(7)  # another number of components
    with open(tmp_path / "bad.npz", "wb") as handle:
        np.savez(handle, **contents)
    with pytest.raises(ValueError, match="mean_precision_ has shape"):
        load(tmp_path / "bad.npz")
    contents["mean_precision_"] = -np.ones(3)
    with open(tmp_path / "bad.npz", "wb") as handle:
        np.savez(handle, **contents)
    with pytest.raises(ValueError, match="positive"):
        load(tmp_path / "bad.npz")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"covariance_type": "VVV"}, "covariance_type"),
        ({"weight_concentration_prior_type": "dirichlet"}, "weight_concentration_prior_type"),
        ({"weight_concentration_prior": 0.0}, "weight_concentration_prior"),
        ({"mean_precision_prior": -1.0}, "mean_precision_prior"),
        ({"degrees_of_freedom_prior": 1.0}, "greater than 3"),
        ({"mean_prior": [0.0, 1.0]}, "'means' should have the shape"),
        ({"covariance_prior": np.ones((4, 4))}, "positive-definite"),
        ({"covariance_type": "diag", "covariance_prior": -np.ones(4)}, "positive"),
        ({"covariance_type": "spherical", "covariance_prior": -1.0}, "covariance_prior"),
    ],
)
def test_bad_parameters_are_named_and_change_nothing(params, message):
    X = DATASETS["iris"]
    model = BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    before = copy.deepcopy(model.__dict__)
    model.set_params(**params)
    with pytest.raises(ValueError, match=message):
        model.fit(X)
    assert before.keys() == model.__dict__.keys()
    np.testing.assert_array_equal(model.means_, before["means_"])


def test_default_covariance_prior_needs_weight_above_one():
    X = DATASETS["iris"][:10]
    with pytest.raises(ValueError, match="total sample weight above 1"):
        BayesianGaussianMixture(n_components=2).fit(X, sample_weight=np.full(10, 0.05))
    fitted = BayesianGaussianMixture(n_components=2, covariance_prior=np.eye(4)).fit(
        X, sample_weight=np.full(10, 0.05)
    )
    assert np.all(np.isfinite(fitted.means_))


def test_set_params_after_fit_is_caught_when_predicting():
    X = DATASETS["iris"]
    model = BayesianGaussianMixture(n_components=3, random_state=0).fit(X)
    model.set_params(weight_concentration_prior_type="dirichlet_distribution")
    with pytest.raises(ValueError, match="weight_concentration_"):
        model.predict(X)
