"""Behaviour of GaussianMixture beyond scikit-learn parity: weights, dtypes, memory, restarts."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastem import GaussianMixture
from fastem.datasets import make_mixture

from .conftest import BACKENDS, COVARIANCE_TYPES, init_arrays, random_mixture, relative_error


def _fit(X, covariance_type, init=None, sample_weight=None, **params):
    params = {"tol": 0.0, "max_iter": 25, "random_state": 0, **params}
    model = GaussianMixture(3, covariance_type=covariance_type, **(init or {}), **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, sample_weight=sample_weight)


@pytest.fixture(scope="module")
def mixture_data():
    X, _ = make_mixture(1500, 3, 3, separation=3.0, random_state=11)
    return X


def _start(covariance_type):
    return init_arrays(random_mixture(np.random.default_rng(12), covariance_type, 3, 3))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(mixture_data, covariance_type, backend):
    weights = np.random.default_rng(13).integers(0, 4, size=mixture_data.shape[0])
    init = _start(covariance_type)
    weighted = _fit(mixture_data, covariance_type, init, weights.astype(float), backend=backend)
    repeated = _fit(
        np.repeat(mixture_data, weights, axis=0), covariance_type, init, backend=backend
    )
    for attribute in ("weights_", "means_", "covariances_"):
        error = relative_error(getattr(weighted, attribute), getattr(repeated, attribute))
        assert error < 1e-10, f"{attribute}: relative error {error:.2e}"
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-10)


def test_weights_scale_free_and_unit_weights_equal_none(mixture_data):
    init = _start("full")
    plain = _fit(mixture_data, "full", init)
    ones = _fit(mixture_data, "full", init, np.ones(mixture_data.shape[0]))
    scaled = _fit(mixture_data, "full", init, np.full(mixture_data.shape[0], 7.5))
    for other in (ones, scaled):
        assert relative_error(other.covariances_, plain.covariances_) < 1e-12
        assert other.lower_bound_ == pytest.approx(plain.lower_bound_, rel=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_stays_float32_and_fits_like_float64(mixture_data, covariance_type):
    init = _start(covariance_type)
    single = _fit(mixture_data.astype(np.float32), covariance_type, init)
    double = _fit(mixture_data, covariance_type, init)
    for attribute in ("weights_", "means_", "covariances_"):
        error = relative_error(getattr(single, attribute), getattr(double, attribute))
        assert error < 1e-4, f"{attribute}: relative error {error:.2e}"
    assert single.lower_bound_ == pytest.approx(double.lower_bound_, rel=1e-5)
    X32 = mixture_data[:100].astype(np.float32)
    assert single.predict_proba(X32).dtype == np.float32
    assert single.score_samples(X32).dtype == np.float32


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_offset_data_gives_the_covariances_of_centred_data(mixture_data, covariance_type):
    """Shifted sums: an offset of 1e6 costs no digits of the covariances."""
    offset = 1e6
    start = random_mixture(np.random.default_rng(14), covariance_type, 3, 3)
    init = init_arrays(start)
    shifted_init = dict(init, means_init=init["means_init"] + offset)
    centred = _fit(mixture_data, covariance_type, init)
    shifted = _fit(mixture_data + offset, covariance_type, shifted_init)
    assert relative_error(shifted.covariances_, centred.covariances_) < 1e-8
    assert relative_error(shifted.means_ - offset, centred.means_) < 1e-8
    assert shifted.lower_bound_ == pytest.approx(centred.lower_bound_, rel=1e-9)


def test_fit_predict_equals_fit_then_predict(mixture_data):
    model = GaussianMixture(3, random_state=0, max_iter=5, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = model.fit_predict(mixture_data)
    np.testing.assert_array_equal(labels, model.predict(mixture_data))


def test_lower_bound_increases_and_convergence_is_reported(blobs):
    model = GaussianMixture(4, random_state=0, tol=1e-8, max_iter=1000).fit(blobs)
    assert model.converged_
    assert model.n_iter_ == len(model.lower_bounds_) > 1
    assert np.all(np.diff(model.lower_bounds_) > -1e-12)
    assert abs(model.lower_bounds_[-1] - model.lower_bounds_[-2]) < 1e-8


def test_not_converging_warns(mixture_data):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        GaussianMixture(3, random_state=0, max_iter=1, tol=1e-12).fit(mixture_data)


def test_warm_start_continues_where_it_stopped(mixture_data):
    """Two warm-started fits of 5 iterations equal one of 10."""
    init = _start("full")
    ten = _fit(mixture_data, "full", init, max_iter=10)
    warm = GaussianMixture(3, tol=0, max_iter=5, warm_start=True, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(mixture_data)
        warm.fit(mixture_data)
    np.testing.assert_allclose(warm.covariances_, ten.covariances_, rtol=1e-12)
    assert warm.lower_bound_ == pytest.approx(ten.lower_bound_, rel=1e-12)


def test_n_init_keeps_the_best_initialisation(mixture_data):
    """n_init=4 keeps the best of the four runs that one shared seed stream gives."""
    params = {"init_params": "random", "max_iter": 3, "tol": 0}
    stream = np.random.RandomState(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        singles = [
            GaussianMixture(3, random_state=stream, **params).fit(mixture_data) for _ in range(4)
        ]
        best = GaussianMixture(3, n_init=4, random_state=0, **params).fit(mixture_data)
    bounds = [model.lower_bound_ for model in singles]
    assert len(set(bounds)) > 1  # the runs really differ
    assert best.lower_bound_ == pytest.approx(max(bounds), rel=1e-12)
    best_single = singles[int(np.argmax(bounds))]
    np.testing.assert_allclose(best.means_, best_single.means_, rtol=1e-12)


def test_max_iter_zero_keeps_the_initialisation(mixture_data):
    init = _start("diag")
    model = GaussianMixture(3, covariance_type="diag", max_iter=0, **init).fit(mixture_data)
    np.testing.assert_allclose(model.means_, init["means_init"])
    np.testing.assert_allclose(model.precisions_, init["precisions_init"], rtol=1e-12)
    assert model.n_iter_ == 0 and model.lower_bound_ == -np.inf


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_draws_from_the_fitted_mixture(mixture_data, covariance_type):
    model = _fit(mixture_data, covariance_type, _start(covariance_type))
    samples, labels = model.sample(60_000)
    assert samples.shape == (60_000, 3) and labels.shape == (60_000,)
    np.testing.assert_allclose(np.bincount(labels, minlength=3) / 60_000, model.weights_, atol=0.01)
    for k in range(3):
        np.testing.assert_allclose(samples[labels == k].mean(axis=0), model.means_[k], atol=0.1)


def test_inputs_are_never_modified(mixture_data):
    X = mixture_data.copy()
    weights = np.random.default_rng(0).uniform(size=X.shape[0])
    init = _start("full")
    copies = [X.copy(), weights.copy()] + [a.copy() for a in init.values()]
    _fit(X, "full", init, weights)
    for original, kept in zip([X, weights, *init.values()], copies, strict=True):
        np.testing.assert_array_equal(original, kept)


def test_kmeans_init_recovers_separated_clusters():
    X, labels = make_mixture(20_000, 4, 5, separation=12.0, random_state=15)
    model = GaussianMixture(5, max_iter=0, random_state=0).fit(X)  # k-means only
    predicted = model.predict(X)
    majority = [np.bincount(predicted[labels == k]).argmax() for k in range(5)]
    assert len(set(majority)) == 5  # one component per true cluster
    for k in range(5):
        assert np.mean(predicted[labels == k] == majority[k]) > 0.99


def test_fit_allocates_nothing_of_size_n_by_k():
    """Peak memory of fit beyond X stays far below one N×K float64 array."""
    script = textwrap.dedent("""
        import resource, warnings, numpy as np
        from fastem import GaussianMixture
        from fastem.datasets import make_mixture
        K = 32
        X, _ = make_mixture(1_500_000, 2, 4, random_state=0)
        warnings.simplefilter("ignore")
        GaussianMixture(K, max_iter=2, random_state=0).fit(X[:5000])  # load kernels
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        GaussianMixture(K, max_iter=3, random_state=0).fit(X)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) * 1024 / (X.shape[0] * K * 8))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    fraction_of_n_by_k = float(result.stdout.strip().splitlines()[-1])
    assert fraction_of_n_by_k < 0.25


def _hand_change(old, new):
    """The documented parameter change, written out with dense linear algebra."""
    from scipy import linalg

    changes = [np.max(np.abs(new.weights_ - old.weights_))]
    for k in range(old.means_.shape[0]):
        cov_old = (
            old.covariances_[k] if old.covariance_type == "full" else np.diag(old.covariances_[k])
        )
        cov_new = (
            new.covariances_[k] if new.covariance_type == "full" else np.diag(new.covariances_[k])
        )
        move = new.means_[k] - old.means_[k]
        changes.append(np.sqrt(move @ np.linalg.solve(cov_old, move)))
        lower = linalg.cholesky(cov_old, lower=True)
        whitened = linalg.solve_triangular(
            lower, linalg.solve_triangular(lower, cov_new, lower=True).T, lower=True
        )
        changes.append(np.max(np.abs(whitened - np.eye(len(move)))))
    return max(changes)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("rule", ["parameters", "both"])
def test_the_parameter_rule_stops_where_a_hand_computation_says(covariance_type, rule):
    X, _ = make_mixture(2000, 3, 3, separation=2.0, random_state=5)
    start = GaussianMixture(3, covariance_type=covariance_type, max_iter=0, random_state=0).fit(X)
    init = {
        "weights_init": start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }
    param_tol, tol = 1e-3, 1e-4
    fits = [start] + [
        GaussianMixture(3, covariance_type=covariance_type, tol=0.0, max_iter=i, **init).fit(X)
        for i in range(1, 80)
    ]
    expected = None
    for i in range(1, len(fits)):
        parameters_done = _hand_change(fits[i - 1], fits[i]) < param_tol
        bound_done = i > 1 and abs(fits[i].lower_bound_ - fits[i - 1].lower_bound_) < tol
        if parameters_done and (rule == "parameters" or bound_done):
            expected = i
            break
    assert expected is not None and expected > 2
    model = GaussianMixture(
        3,
        covariance_type=covariance_type,
        stopping=rule,
        param_tol=param_tol,
        tol=tol,
        max_iter=200,
        **init,
    ).fit(X)
    assert model.converged_ and model.n_iter_ == expected
    np.testing.assert_array_equal(model.means_, fits[expected].means_)


def test_stopping_parameters_are_checked():
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(ValueError, match="'stopping'"):
        GaussianMixture(2, stopping="never").fit(X)
    with pytest.raises(ValueError, match="'param_tol'"):
        GaussianMixture(2, stopping="parameters", param_tol=-1.0).fit(X)
