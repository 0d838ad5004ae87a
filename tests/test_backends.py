"""Every compiled backend against the NumPy reference, kernel by kernel and fit by fit."""

import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastem.backends._compiled
from fastem import GaussianMixture, available_backends
from fastem._em import expectation
from fastem.backends import get_backend, numpy_backend
from fastem.datasets import make_mixture

from .conftest import COVARIANCE_TYPES, random_mixture, relative_error

KERNEL_PARITY = 1e-10
# float32 rows with full or tied covariances: y = (x − μ) U in float32, where
# summation order (and FMA contraction) differs between implementations.
SINGLE_PARITY = 1e-5


def _parity(dtype, covariance_type):
    """The agreement to expect between two implementations on these rows."""
    single = np.dtype(dtype) == np.float32 and covariance_type in ("full", "tied")
    return SINGLE_PARITY if single else KERNEL_PARITY


# Row counts that are not multiples of the block or task sizes, so padding lanes,
# short blocks and short tasks are all exercised.
ROW_COUNTS = [1, 63, 1000, 20_011]


def _data(n_samples, n_features, dtype, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    X = offset + rng.normal(scale=2.0, size=(n_samples, n_features))
    return X.astype(dtype)


def _weights(n_samples, weighted, seed=1):
    if not weighted:
        return None
    return np.random.default_rng(seed).uniform(0.0, 3.0, size=n_samples)


def _assert_stats_close(actual, expected, tolerance):
    assert actual.total_weight == pytest.approx(expected.total_weight, rel=1e-12)
    assert actual.log_likelihood == pytest.approx(expected.log_likelihood, rel=tolerance)
    for name in ("resp_sum", "first", "second"):
        error = relative_error(getattr(actual, name), getattr(expected, name))
        assert error < tolerance, f"{name}: relative error {error:.2e}"


@pytest.mark.parametrize("n_samples", ROW_COUNTS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_accumulate_matches_reference(
    compiled_backend, covariance_type, dtype, weighted, n_samples
):
    rng = np.random.default_rng(n_samples)
    mixture = random_mixture(rng, covariance_type, n_components=5, n_features=7)
    X = _data(n_samples, 7, dtype)
    sample_weight = _weights(n_samples, weighted)
    reference = expectation(X, sample_weight, mixture, numpy_backend)
    compiled = expectation(X, sample_weight, mixture, get_backend(compiled_backend))
    _assert_stats_close(compiled, reference, _parity(dtype, covariance_type))


@pytest.mark.parametrize("n_features", [1, 2, 3, 4, 5, 6, 8, 10, 13])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_every_feature_count_matches_reference(
    compiled_backend, covariance_type, dtype, n_features
):
    # The full kernels take features four at a time (diagonal steps that centre their
    # rows, squares below them) and the last D mod 4 one by one: every split of D.
    rng = np.random.default_rng(n_features)
    mixture = random_mixture(rng, covariance_type, n_components=3, n_features=n_features)
    X = _data(517, n_features, dtype, seed=n_features, offset=50.0)
    sample_weight = _weights(517, True)
    reference = expectation(X, sample_weight, mixture, numpy_backend)
    compiled = expectation(X, sample_weight, mixture, get_backend(compiled_backend))
    _assert_stats_close(compiled, reference, _parity(dtype, covariance_type))
    expected = numpy_backend.weighted_log_prob(X, mixture)
    actual = get_backend(compiled_backend).weighted_log_prob(X, mixture)
    tolerance = 1e-12 if _parity(dtype, covariance_type) == KERNEL_PARITY else SINGLE_PARITY
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_weighted_log_prob_matches_reference(compiled_backend, covariance_type, dtype):
    rng = np.random.default_rng(4)
    mixture = random_mixture(rng, covariance_type, n_components=6, n_features=4)
    X = _data(1001, 4, dtype, seed=5)
    expected = numpy_backend.weighted_log_prob(X, mixture)
    actual = get_backend(compiled_backend).weighted_log_prob(X, mixture)
    tolerance = 1e-12 if _parity(dtype, covariance_type) == KERNEL_PARITY else SINGLE_PARITY
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("offset", [0.0, 1e4])
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_float32_distances_are_as_accurate_as_float32_allows(
    compiled_backend, covariance_type, offset
):
    """float32 rows: y = (x − μ) U in float32 stays within a few float32 roundings of
    the float64 result on the same values, also far from the origin (x − μ is taken
    before rounding; rounding μ to float32 first would cost ~1e-3 here)."""
    rng = np.random.default_rng(11)
    mixture = random_mixture(rng, covariance_type, n_components=4, n_features=9, offset=offset)
    X = (offset + _data(3001, 9, np.float64, seed=12)).astype(np.float32)
    exact = numpy_backend.weighted_log_prob(X.astype(np.float64), mixture)
    single = get_backend(compiled_backend).weighted_log_prob(X, mixture)
    squared_distance = 2.0 * (mixture.log_norm() - exact)
    error = np.abs(single - exact)
    assert np.all(error <= 32 * np.finfo(np.float32).eps * (1.0 + squared_distance))
    assert error.max() > 0.0  # it did compute in float32


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kmeans_primitives_match_reference(compiled_backend, dtype, weighted):
    backend = get_backend(compiled_backend)
    X = _data(5003, 3, dtype, seed=6)
    sample_weight = _weights(5003, weighted)
    centers = np.asarray(X[[0, 10, 20, 30]], dtype=np.float64)

    closest_reference = np.full(X.shape[0], np.inf)
    closest_compiled = closest_reference.copy()
    for center in centers[:2]:
        numpy_backend.update_closest(X, center, closest_reference)
        backend.update_closest(X, center, closest_compiled)
    np.testing.assert_allclose(closest_compiled, closest_reference, rtol=1e-12)

    np.testing.assert_allclose(
        backend.candidate_potentials(X, sample_weight, closest_compiled, centers[2:]),
        numpy_backend.candidate_potentials(X, sample_weight, closest_reference, centers[2:]),
        rtol=KERNEL_PARITY,
    )
    sums, counts, inertia = backend.lloyd_step(X, sample_weight, centers)
    sums_ref, counts_ref, inertia_ref = numpy_backend.lloyd_step(X, sample_weight, centers)
    np.testing.assert_allclose(counts, counts_ref, rtol=1e-12)
    assert relative_error(sums, sums_ref) < KERNEL_PARITY
    assert inertia == pytest.approx(inertia_ref, rel=KERNEL_PARITY)
    np.testing.assert_array_equal(
        backend.assign_labels(X, centers), numpy_backend.assign_labels(X, centers)
    )


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_full_fit_matches_reference(compiled_backend, covariance_type, dtype, weighted):
    """Whole fits, initialisation included, agree between a compiled backend and NumPy."""
    X, _ = make_mixture(4000, 4, 3, separation=3.0, random_state=8, dtype=dtype)
    sample_weight = _weights(X.shape[0], weighted)
    fits = {}
    for backend in (compiled_backend, "numpy"):
        model = GaussianMixture(
            3,
            covariance_type=covariance_type,
            tol=0.0,
            max_iter=20,
            random_state=0,
            backend=backend,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits[backend] = model.fit(X, sample_weight=sample_weight)
    ours, reference = fits[compiled_backend], fits["numpy"]
    tolerance = _parity(dtype, covariance_type)
    for attribute in ("weights_", "means_", "covariances_"):
        error = relative_error(getattr(ours, attribute), getattr(reference, attribute))
        assert error < tolerance, f"{attribute}: relative error {error:.2e}"
    assert ours.lower_bound_ == pytest.approx(reference.lower_bound_, rel=tolerance)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_and_two_threads_give_identical_bits(compiled_backend, covariance_type):
    if get_backend(compiled_backend).max_threads < 2:
        pytest.skip(f"{compiled_backend} runs on one thread here")
    X, _ = make_mixture(70_001, 5, 4, random_state=9)
    sample_weight = _weights(X.shape[0], True)
    fitted = []
    for threads in (1, 2):
        model = GaussianMixture(
            4,
            covariance_type=covariance_type,
            tol=0.0,
            max_iter=5,
            random_state=1,
            backend=compiled_backend,
            n_jobs=threads,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, sample_weight=sample_weight)
        fitted.append(model)
    one, two = fitted
    for attribute in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(one, attribute), getattr(two, attribute))
    assert one.lower_bounds_ == two.lower_bounds_
    np.testing.assert_array_equal(one.predict_proba(X[:5000]), two.predict_proba(X[:5000]))


@pytest.mark.parametrize("n_features", [2, 6])
def test_statistics_do_not_depend_on_how_rows_are_grouped_into_calls(
    compiled_backend, monkeypatch, n_features
):
    """Per-call grouping (set by a memory budget) must not change a single bit.

    140,000 rows make 137 tasks in one call: enough for the Numba kernels to run
    them in groups of two (scratch per group), against one task per call below.
    """
    backend = get_backend(compiled_backend)
    mixture = random_mixture(np.random.default_rng(2), "full", 4, n_features)
    X = _data(140_000, n_features, np.float64, seed=3)
    whole = expectation(X, None, mixture, backend)
    monkeypatch.setattr(fastem.backends._compiled, "PARTIALS_BUDGET_BYTES", 1)  # 1 task/call
    split = expectation(X, None, mixture, backend)
    assert whole.log_likelihood == split.log_likelihood
    np.testing.assert_array_equal(whole.first, split.first)
    np.testing.assert_array_equal(whole.second, split.second)


def test_compiled_backends_agree_with_each_other():
    """numba and cython side by side (each is also checked against numpy above)."""
    compiled = [name for name in ("numba", "cython") if available_backends()[name] is None]
    if len(compiled) < 2:
        pytest.skip("needs both compiled backends")
    rng = np.random.default_rng(5)
    for covariance_type in COVARIANCE_TYPES:
        mixture = random_mixture(rng, covariance_type, n_components=6, n_features=11)
        X = _data(9_999, 11, np.float32, seed=6, offset=50.0)
        sample_weight = _weights(X.shape[0], True)
        numba_stats, cython_stats = (
            expectation(X, sample_weight, mixture, get_backend(name)) for name in compiled
        )
        tolerance = _parity(X.dtype, covariance_type)
        _assert_stats_close(cython_stats, numba_stats, tolerance)
        np.testing.assert_allclose(
            get_backend("cython").weighted_log_prob(X, mixture),
            get_backend("numba").weighted_log_prob(X, mixture),
            rtol=tolerance,
        )


# --- selection -------------------------------------------------------------------


def _make_unimportable(monkeypatch, *modules):
    """Make these modules fail to import, as on a machine that lacks them ('auto' unforced)."""
    monkeypatch.delenv("FASTEM_BACKEND", raising=False)
    for backend_module in ("fastem.backends.numba_backend", "fastem.backends.cython_backend"):
        monkeypatch.delitem(sys.modules, backend_module, raising=False)
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_backend_selection():
    assert available_backends()["numpy"] is None
    assert get_backend("numpy") is numpy_backend
    with pytest.raises(ValueError, match="Unknown backend 'cuda'"):
        get_backend("cuda")
    for name, reason in available_backends().items():
        if reason is None:
            assert get_backend(name).name == name


def test_auto_falls_back_to_cython_without_numba(monkeypatch):
    if available_backends()["cython"] is not None:
        pytest.skip("the Cython kernels are not built here")
    _make_unimportable(monkeypatch, "numba")
    reasons = available_backends()
    assert reasons["numba"].startswith("not installed") and "pip install numba" in reasons["numba"]
    assert reasons["cython"] is None
    assert get_backend("auto").name == "cython"
    with pytest.raises(ValueError, match="'numba' backend is not available: not installed"):
        get_backend("numba")


def test_auto_falls_back_to_numpy_with_a_warning_saying_how_to_get_speed(monkeypatch, blobs):
    _make_unimportable(monkeypatch, "numba", "fastem._cython")
    reasons = available_backends()
    assert reasons["cython"].startswith("not built")
    with pytest.raises(ValueError, match="'cython' backend is not available: not built"):
        get_backend("cython")
    with pytest.warns(RuntimeWarning, match="pip install numba"):
        model = GaussianMixture(2, max_iter=2, random_state=0).fit(blobs)
    assert model.backend_ == "numpy"


def test_numba_disable_jit_is_reported_and_skipped(monkeypatch):
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")
    monkeypatch.delenv("FASTEM_BACKEND", raising=False)
    assert available_backends()["numba"].startswith("disabled: NUMBA_DISABLE_JIT")
    with pytest.raises(ValueError, match="disabled"):
        get_backend("numba")
    if available_backends()["cython"] is None:
        assert get_backend("auto").name == "cython"


def test_backend_environment_variable_overrides_auto(monkeypatch, blobs):
    monkeypatch.setenv("FASTEM_BACKEND", "numpy")
    model = GaussianMixture(2, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(blobs)
    assert model.backend_ == "numpy"


# --- threads ---------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_n_jobs_sets_the_kernels_threads_and_restores_them(compiled_backend, monkeypatch, blobs):
    backend = get_backend(compiled_backend)
    before = backend.threads.get_num_threads()
    seen = []
    accumulate = backend.accumulate

    def recording(*args):
        seen.append(backend.threads.get_num_threads())
        return accumulate(*args)

    monkeypatch.setattr(backend, "accumulate", recording)
    wanted = min(2, backend.max_threads)
    GaussianMixture(
        3, max_iter=3, tol=0.0, random_state=0, backend=compiled_backend, n_jobs=wanted
    ).fit(blobs)
    assert seen and set(seen) == {wanted}
    assert backend.threads.get_num_threads() == before


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_n_jobs_minus_one_means_every_available_core(compiled_backend, monkeypatch, blobs):
    from fastem._threads import available_cores

    backend = get_backend(compiled_backend)
    seen = []
    accumulate = backend.accumulate
    monkeypatch.setattr(
        backend,
        "accumulate",
        lambda *a: (seen.append(backend.threads.get_num_threads()), accumulate(*a)),
    )
    GaussianMixture(
        2, max_iter=2, tol=0.0, random_state=0, backend=compiled_backend, n_jobs=-1
    ).fit(blobs)
    assert set(seen) == {min(available_cores(), backend.max_threads)}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_blas_is_held_to_one_thread_while_compiled_kernels_run(
    compiled_backend, monkeypatch, blobs
):
    from threadpoolctl import threadpool_info

    backend = get_backend(compiled_backend)
    blas_threads = []
    accumulate = backend.accumulate
    monkeypatch.setattr(
        backend,
        "accumulate",
        lambda *a: (
            blas_threads.extend(
                p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"
            ),
            accumulate(*a),
        ),
    )
    GaussianMixture(2, max_iter=2, tol=0.0, random_state=0, backend=compiled_backend).fit(blobs)
    if not blas_threads:
        pytest.skip("threadpoolctl finds no BLAS library here")
    assert set(blas_threads) == {1}


@pytest.mark.parametrize("n_jobs, error", [(0, ValueError), (1.5, TypeError), ("2", TypeError)])
def test_bad_n_jobs_is_rejected(n_jobs, error, blobs):
    with pytest.raises(error, match="n_jobs"):
        GaussianMixture(2, n_jobs=n_jobs).fit(blobs)


def test_a_threads_count_stays_with_the_python_thread_that_set_it(compiled_backend):
    """As Numba's: fits in two Python threads may use different n_jobs without interfering."""
    import threading

    threads = get_backend(compiled_backend).threads
    threads.set_num_threads(min(2, get_backend(compiled_backend).max_threads))
    main_count = threads.get_num_threads()
    seen = {}

    def worker():
        threads.set_num_threads(1)
        seen["worker"] = threads.get_num_threads()

    worker_thread = threading.Thread(target=worker)
    worker_thread.start()
    worker_thread.join()
    assert seen["worker"] == 1
    assert threads.get_num_threads() == main_count
