"""The trust boundary: nothing reaches a compiled kernel unchecked, and state changes whole.

Each case here once read out of bounds, crashed, or returned garbage. Cases
whose old behaviour crashed the interpreter run in a subprocess, so that a
regression fails the test instead of killing the suite.
"""

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import fastem
import fastem._online
import fastem.gaussian_mixture
from fastem import GaussianMixture
from fastem.backends import get_backend
from fastem.backends._boundary import SIGNATURES, check_call

from .conftest import COVARIANCE_TYPES


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) + 6.0])


def run_isolated(code: str, timeout: int = 300, env: dict | None = None) -> str:
    """Run ``code`` in a fresh interpreter; fail (with its output) unless it exits 0."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


# --- the checked kernel entry ------------------------------------------------------------


def _accumulate_arguments(n=50, D=3, K=2, dtype=np.float64):
    return {
        "X": np.zeros((n, D), dtype),
        "sample_weight": np.empty(0),
        "means": np.zeros((K, D)),
        "prec_chol": np.tile(np.eye(D, dtype=dtype), (K, 1, 1)),
        "log_norm": np.zeros(K),
        "per_component": True,
        "scatter_shift": np.zeros(D),
        "task_rows": 1024,
        "out_loglik": np.zeros(1),
        "out_resp_sum": np.zeros(K),
        "out_first": np.zeros((K, D)),
        "out_second": np.zeros((K, D, D)),
    }


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("means", np.zeros((2, 7)), r"means has shape \(2, 7\): axis 1 is 7 where D = 3"),
        ("means", np.zeros((3, 3)), "prec_chol has shape \\(2, 3, 3\\): axis 0 is 2 where K = 3"),
        ("prec_chol", np.zeros((2, 3, 4)), "prec_chol has shape"),
        (
            "prec_chol",
            np.zeros((2, 3, 3), np.float32),
            "prec_chol has dtype float32, expected float64",
        ),
        ("log_norm", np.zeros(5), "log_norm has shape"),
        ("log_norm", np.array([0.0, np.nan]), "log_norm contains NaN"),
        ("means", np.array([[0.0, 0, 0], [np.inf, 0, 0]]), "means contains NaN or infinity"),
        ("sample_weight", np.ones(49), "49 entries for 50 rows"),
        ("out_second", np.zeros((1, 3, 3)), "out_second .* axis 0 is 1 where S = 2"),
        ("out_first", np.zeros((3, 2)).T, "must be C-contiguous"),
        ("X", np.zeros((50, 3), ">f8"), "native byte order"),
        ("X", np.zeros((50, 3), np.int64), "float32 or float64"),
        ("X", np.zeros((50,)), "X has shape"),
        ("task_rows", 0, "task_rows must be an int >= 1"),
    ],
)
def test_every_disagreeing_argument_is_named(name, value, message):
    arguments = _accumulate_arguments()
    arguments[name] = value
    with pytest.raises(ValueError, match=message):
        check_call("full.accumulate", arguments, {"S": 2})


def test_read_only_outputs_are_refused():
    arguments = _accumulate_arguments()
    arguments["out_first"].flags.writeable = False
    with pytest.raises(ValueError, match="out_first is an output and must be writable"):
        check_call("full.accumulate", arguments, {"S": 2})


def test_a_well_formed_call_passes_and_every_kernel_has_a_signature(compiled_backend):
    assert check_call("full.accumulate", _accumulate_arguments(), {"S": 2}) == {
        "n": 50,
        "D": 3,
        "K": 2,
        "S": 2,
    }
    backend = get_backend(compiled_backend)
    for kernel in SIGNATURES:
        family, function = kernel.split(".")
        assert callable(getattr(getattr(backend, family), function)), kernel


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_mixture_of_another_shape_never_reaches_the_kernel(compiled_backend, covariance_type):
    """The backend's own entry points check the plain arrays they derive from a Mixture."""
    run_isolated(f"""
        import numpy as np, pytest
        from fastem._mixture import Mixture
        from fastem._stats import SufficientStats
        from fastem.backends import get_backend
        backend = get_backend({compiled_backend!r})
        X = np.random.default_rng(0).normal(size=(2000, 3))
        good = Mixture("diag", np.full(2, 0.5), np.zeros((2, 3)), np.ones((2, 3)))
        shapes = {{"full": (2, 7, 7), "tied": (7, 7), "diag": (2, 7), "spherical": (5,)}}
        bad = Mixture({covariance_type!r}, np.full(2, 0.5), np.zeros((2, 3)),
                      np.ones(shapes[{covariance_type!r}]))
        for call in (lambda: backend.weighted_log_prob(X, bad),
                     lambda: backend.accumulate(X, None, bad, SufficientStats.zeros(
                         {covariance_type!r}, bad.means, np.zeros(3)))):
            with pytest.raises(ValueError):
                call()
        wide = Mixture("diag", np.full(2, 0.5), np.zeros((2, 7)), np.ones((2, 7)))
        with pytest.raises(ValueError, match="D = 3"):
            backend.weighted_log_prob(X, wide)
        with pytest.raises(ValueError, match="centers"):
            backend.lloyd_step(X, None, np.zeros((2, 4)))
        backend.weighted_log_prob(X, good)
    """)


@pytest.mark.parametrize("n_jobs", [65536, 10**6])
def test_more_threads_than_cores_are_capped(compiled_backend, n_jobs):
    run_isolated(f"""
        import numpy as np
        from fastem import GaussianMixture
        X = np.random.default_rng(0).normal(size=(5000, 3))
        model = GaussianMixture(3, random_state=0, backend={compiled_backend!r},
                                n_jobs={n_jobs}).fit(X)
        reference = GaussianMixture(3, random_state=0, backend={compiled_backend!r},
                                    n_jobs=1).fit(X)
        assert np.array_equal(model.means_, reference.means_)
    """)


# --- fitted state changes whole, or not at all ------------------------------------------


FITTED = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_cholesky_",
    "n_features_in_",
    "lower_bound_",
    "n_iter_",
)


def _snapshot(model):
    return {name: np.copy(getattr(model, name)) for name in FITTED}


def _assert_unchanged(model, before):
    for name, value in before.items():
        assert np.array_equal(getattr(model, name), value), name


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_on_another_number_of_features_is_refused(compiled_backend, covariance_type):
    run_isolated(f"""
        import numpy as np, pytest
        from fastem import GaussianMixture
        rng = np.random.default_rng(0)
        model = GaussianMixture(3, covariance_type={covariance_type!r}, warm_start=True,
                                backend={compiled_backend!r}, random_state=0)
        model.fit(rng.normal(size=(500, 3)))
        means = model.means_.copy()
        with pytest.raises(ValueError, match="number of features is 5 but the model was "
                                             "fitted with 3: set warm_start=False"):
            model.fit(rng.normal(size=(500, 5)))
        assert model.n_features_in_ == 3 and np.array_equal(model.means_, means)
        model.predict(rng.normal(size=(10, 3)))
        model.set_params(warm_start=False).fit(rng.normal(size=(500, 5)))
        assert model.means_.shape == (3, 5)
    """)


def test_warm_start_after_changing_n_components_or_covariance_type_is_refused(X):
    model = GaussianMixture(1, warm_start=True, random_state=0).fit(X)
    model.set_params(n_components=4)
    with pytest.raises(ValueError, match="n_components is 4 but the model was fitted with 1"):
        model.fit(X)
    model.set_params(n_components=1, covariance_type="diag")
    with pytest.raises(ValueError, match="covariance_type is 'diag' but .* 'full'"):
        model.fit(X)
    model.set_params(covariance_type="full").fit(X)  # back as fitted: continues


def test_partial_fit_on_a_changed_model_is_refused(X):
    model = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 2 features"):
        model.partial_fit(X[:, :2])
    model.set_params(covariance_type="tied")
    with pytest.raises(
        ValueError, match="partial_fit continues the fitted model, but covariance_type is 'tied'"
    ):
        model.partial_fit(X)
    assert model.n_features_in_ == 3


def test_prediction_after_set_params_is_refused_not_misread(X):
    model = GaussianMixture(1, random_state=0).fit(X)
    model.set_params(n_components=4)
    for call in (model.predict, model.predict_proba, model.score_samples):
        with pytest.raises(ValueError, match=r"weights_ has shape \(1,\), but n_components=4"):
            call(X)
    with pytest.raises(ValueError, match="n_components=4"):
        model.sample(100)
    model.set_params(n_components=1)
    assert model.sample(100)[1].shape == (100,)


def test_tied_model_predicting_as_diag_is_refused(compiled_backend):
    run_isolated(f"""
        import numpy as np, pytest
        from fastem import GaussianMixture
        X = np.random.default_rng(0).normal(size=(400, 1))
        model = GaussianMixture(5, covariance_type="tied", backend={compiled_backend!r},
                                random_state=0).fit(X)
        model.set_params(covariance_type="diag")
        with pytest.raises(ValueError, match="fitted with 'tied' covariances, but "
                                             "covariance_type is now 'diag'"):
            model.predict(X)
    """)


@pytest.mark.parametrize("failure", ["nan", "interrupt"])
def test_a_failed_refit_on_other_data_keeps_the_previous_model(X, monkeypatch, failure):
    model = GaussianMixture(2, random_state=0).fit(X)
    before = _snapshot(model)
    other = np.random.default_rng(1).normal(size=(200, 5))
    if failure == "nan":
        other[50, 2] = np.nan
        expected = ValueError
    else:
        monkeypatch.setattr(fastem.gaussian_mixture, "m_step", _raise_keyboard_interrupt)
        expected = KeyboardInterrupt
    with pytest.raises(expected):
        model.fit(other)
    _assert_unchanged(model, before)
    model.predict(X)


def _raise_keyboard_interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_an_interrupted_first_fit_leaves_no_fitted_attribute(X, monkeypatch):
    monkeypatch.setattr(fastem.gaussian_mixture, "m_step", _raise_keyboard_interrupt)
    model = GaussianMixture(2, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    assert not [name for name in vars(model) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_an_interrupted_partial_fit_keeps_the_stream(X, monkeypatch):
    model = GaussianMixture(2, random_state=0).partial_fit(X)
    before = _snapshot(model)
    state = model._online_state
    monkeypatch.setattr(fastem._online.ArrayRows, "statistics", _raise_keyboard_interrupt)
    with pytest.raises(KeyboardInterrupt):
        model.partial_fit(X)
    _assert_unchanged(model, before)
    assert model._online_state is state


# --- numbers at the extremes ---------------------------------------------------------------


@pytest.mark.parametrize("scale", [1e-300, 1e-20, 1e20, 1e300])
def test_weights_are_scale_free(X, scale):
    rng = np.random.default_rng(2)
    weights = rng.uniform(0.5, 2.0, size=X.shape[0])
    reference = GaussianMixture(2, random_state=0, tol=0, max_iter=20).fit(X, sample_weight=weights)
    scaled = GaussianMixture(2, random_state=0, tol=0, max_iter=20).fit(
        X, sample_weight=weights * scale
    )
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(
            getattr(scaled, name), getattr(reference, name), rtol=1e-10, err_msg=name
        )
    np.testing.assert_allclose(scaled.lower_bound_, reference.lower_bound_, rtol=1e-12)
    unit = GaussianMixture(2, random_state=0).fit(X)
    uniform = GaussianMixture(2, random_state=0).fit(X, sample_weight=np.full(len(X), scale))
    np.testing.assert_allclose(uniform.lower_bound_, unit.lower_bound_, rtol=1e-12)


def test_weights_summing_past_the_float64_maximum(X):
    weights = np.full(X.shape[0], 1e306)
    model = GaussianMixture(2, random_state=0, init_params="random_from_data").fit(
        X, sample_weight=weights
    )
    assert np.isfinite(model.lower_bound_)


def test_out_of_core_weights_are_scale_free_too(X, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X)
    weights = np.random.default_rng(3).uniform(0.5, 2.0, size=X.shape[0])
    in_memory = GaussianMixture(2, random_state=0).fit(X, sample_weight=weights * 1e-300)
    mapped = GaussianMixture(2, random_state=0).fit(
        np.load(path, mmap_mode="r"), sample_weight=weights * 1e-300
    )
    assert np.array_equal(mapped.means_, in_memory.means_)


@pytest.mark.parametrize("value", [1e300, -1e300, 1e160])
def test_x_too_wide_for_float64_sums_names_the_column_and_the_cure(X, value):
    wide = X.copy()
    wide[:, 1] *= value
    with pytest.raises(ValueError, match=r"Column 1 of X spans .* would overflow .* Divide X"):
        GaussianMixture(2).fit(wide)


def test_x_far_from_the_origin_within_the_span_limit_still_fits(X):
    scale, offset = 1e140, 1e145
    model = GaussianMixture(2, random_state=0, reg_covar=0.0).fit(X * scale + offset)
    reference = GaussianMixture(2, random_state=0, reg_covar=0.0).fit(X)
    np.testing.assert_allclose((model.means_ - offset) / scale, reference.means_, rtol=1e-6)
    np.testing.assert_allclose(model.covariances_ / scale**2, reference.covariances_, rtol=1e-6)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_predict_proba_has_no_nan_for_rows_far_away(X, covariance_type, compiled_backend):
    model = GaussianMixture(
        2, covariance_type=covariance_type, backend=compiled_backend, random_state=0
    ).fit(X)
    far = np.array([[1e200, 0.0, 0.0], [-1e200, 1e200, 0.0], [1e155, 1e155, 1e155]])
    proba = model.predict_proba(far)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(far), proba.argmax(axis=1))
    assert np.all(model.score_samples(far) == -np.inf)  # the density is below float64's range
    # The component a row tends to far away is the one the kernels pick at a moderate distance.
    direction = far / np.max(np.abs(far), axis=1, keepdims=True)
    np.testing.assert_array_equal(model.predict(direction * 1e6), model.predict(far))


def test_random_from_data_with_fewer_weighted_rows_than_components(X):
    weights = np.zeros(X.shape[0])
    weights[7] = 1.0
    with pytest.raises(ValueError, match="only 1 row.* nonzero weight: use init_params='kmeans'"):
        GaussianMixture(3, init_params="random_from_data").fit(X, sample_weight=weights)


def test_random_from_data_without_regularisation_starts_at_the_data_scale(X):
    with pytest.warns(fastem.DegenerateComponentWarning):
        model = GaussianMixture(
            1, init_params="random_from_data", reg_covar=0.0, random_state=0
        ).fit(X)
    np.testing.assert_allclose(model.covariances_[0], np.cov(X.T, bias=True), rtol=1e-6)


# --- inputs as scikit-learn treats them ---------------------------------------------------------


@pytest.mark.parametrize(
    "bad, word",
    [
        (np.array([["1.5", "2"], ["3", "4"], ["5", "6"]]), "strings"),
        (np.array([[b"1", b"2"], [b"3", b"4"]]), "bytes"),
        (np.arange(6).astype("datetime64[D]").reshape(3, 2), "datetimes"),
        (np.arange(6).astype("timedelta64[s]").reshape(3, 2), "timedeltas"),
    ],
)
def test_text_and_time_are_refused(bad, word):
    for call in (GaussianMixture(1).fit, GaussianMixture(1).partial_fit):
        with pytest.raises(ValueError, match=f"X holds {word}"):
            call(bad)
    model = GaussianMixture(1).fit(np.random.default_rng(0).normal(size=(10, 2)))
    with pytest.raises(ValueError, match=f"X holds {word}"):
        model.predict(bad)


@pytest.mark.parametrize(
    "dtype", [">f8", ">f4", "f2", "longdouble", "i1", "i2", "i8", "u1", "bool"]
)
def test_memory_maps_of_any_numeric_dtype(compiled_backend, dtype, tmp_path):
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.integers(0, 3, size=(200, 2)), rng.integers(8, 11, size=(200, 2))])
    if dtype == "bool":
        X = X > 5
    path = tmp_path / "X.npy"
    np.save(path, X.astype(dtype))
    mapped = np.load(path, mmap_mode="r")
    model = GaussianMixture(2, random_state=0, backend=compiled_backend).fit(mapped)
    reference = GaussianMixture(2, random_state=0, backend=compiled_backend).fit(
        np.asarray(mapped, dtype=np.float64)
    )
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(mapped), reference.predict(X.astype(np.float64)))


def test_out_of_core_non_finite_message_counts_the_whole_file(tmp_path):
    import sklearn

    X = np.random.default_rng(5).normal(size=(20_000, 2))
    X[[10, 7000, 15000, 19999], 1] = np.nan
    np.save(tmp_path / "X.npy", X)
    with sklearn.config_context(working_memory=0.1):  # many chunks
        with pytest.raises(ValueError, match=r"4 NaN value\(s\); the first is nan at row 10"):
            GaussianMixture(2).fit(np.load(tmp_path / "X.npy", mmap_mode="r"))


# --- scikit-learn 1.9's float32 behaviour and array API dispatch ------------------------------


def test_float32_weights_init_normalised_in_float32_is_accepted(X):
    rng = np.random.default_rng(0)
    while True:  # weights whose float32 rounding leaves the sum 1e-8 .. 1e-6 away from 1
        weights = rng.dirichlet(np.ones(5)).astype(np.float32)
        weights /= weights.sum()
        if 1e-8 < abs(weights.astype(np.float64).sum() - 1.0) < 1e-6:
            break
    GaussianMixture(5, weights_init=weights, random_state=0).fit(X)
    with pytest.raises(ValueError, match="should be normalized"):
        GaussianMixture(5, weights_init=weights.astype(np.float64), random_state=0).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_data_gives_float32_attributes(X, covariance_type):
    model = GaussianMixture(2, covariance_type=covariance_type, random_state=0)
    for fit in (model.fit, model.partial_fit):
        fit(X.astype(np.float32))
        for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
            assert getattr(model, name).dtype == np.float32, name
    model.fit(X)
    assert model.means_.dtype == np.float64


def test_array_api_dispatch_with_a_foreign_array_says_what_to_do():
    pytest.importorskip("array_api_strict")
    run_isolated(
        """
        import os
        import numpy as np, pytest, sklearn
        import array_api_strict as xp
        from fastem import GaussianMixture
        X = np.random.default_rng(0).normal(size=(200, 2))
        with sklearn.config_context(array_api_dispatch=True):
            with pytest.raises(ValueError, match="computes with NumPy .*np.asarray"):
                GaussianMixture(2).fit(xp.asarray(X))
            model = GaussianMixture(2, random_state=0).fit(X)  # NumPy arrays work as ever
            with pytest.raises(ValueError, match="computes with NumPy"):
                model.predict(xp.asarray(X))
            assert model.predict_proba(X).shape == (200, 2)
    """,
        env={"SCIPY_ARRAY_API": "1"},
    )


# --- the checked build (CI's bounds-checked job) would catch what slips past the boundary ------


def _checked_build(backend: str) -> bool:
    if backend == "numba":
        return os.environ.get("NUMBA_BOUNDSCHECK") == "1"
    from fastem._cython import _openmp

    return _openmp.checked_build()


def test_an_unchecked_call_into_a_checked_build_is_caught(compiled_backend):
    """Bypass the boundary on purpose: the checked build must stop the out-of-bounds read.

    Runs in CI's bounds-checked job (Numba with NUMBA_BOUNDSCHECK=1, Cython built with
    FASTEM_BUILD_DEBUG=1 and run under AddressSanitizer); elsewhere such a read is undefined.
    """
    if not _checked_build(compiled_backend):
        pytest.skip("kernels built without bounds checks (CI's checked job runs this)")
    # Cython's kernel takes D from X and is handed means and factors too small for it;
    # Numba's takes K from the means (and pads D itself) and is handed one log-norm for
    # two components.
    package, x_features, features, n_log_norms = (
        ("fastem._kernels", 3, 3, 1) if compiled_backend == "numba" else ("fastem._cython", 7, 3, 2)
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import numpy as np
        from {package} import full
        X = np.zeros((4096, {x_features}))
        full.weighted_log_prob(X, np.zeros((2, {features})), np.ones((2, {features}, {features})),
                               np.zeros({n_log_norms}), np.empty((4096, 2)))
        print("read out of bounds unnoticed")
    """),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 or "unnoticed" not in result.stdout
    assert re.search(
        "IndexError|index is out of bounds|exception set|AddressSanitizer",
        result.stdout + result.stderr,
    ), result.stderr[-2000:]


def test_a_dask_fit_without_iterations_still_finds_nan_outside_the_sample():
    da = pytest.importorskip("dask.array")
    import dask
    import sklearn

    X = np.random.default_rng(6).normal(size=(40_000, 2))
    X[39_999, 1] = np.nan  # far from the few rows the initialisation samples
    with dask.config.set(scheduler="synchronous"), sklearn.config_context(working_memory=0.05):
        with pytest.raises(ValueError, match="1 NaN"):
            GaussianMixture(2, max_iter=0, random_state=0).fit(da.from_array(X, chunks=5000))


def test_threads_are_sized_to_the_work_of_a_call():
    from fastem.backends._boundary import MIN_WORK_PER_THREAD, threads_for, work_of

    wine = {"n": 178, "D": 4, "K": 3}
    assert work_of("full.accumulate", wine) == 178 * 3 * 16
    assert threads_for("full.accumulate", wine, available=16) == 1
    big = {"n": 1_000_000, "D": 16, "K": 16}
    assert threads_for("full.accumulate", big, available=16) == 16
    assert threads_for("diag.accumulate", big, available=2) == 2
    edge = {"n": 2 * MIN_WORK_PER_THREAD, "D": 1, "C": 1}
    assert threads_for("kmeans.update_closest", edge, available=8) == 2


def test_a_small_call_runs_on_one_thread_whatever_n_jobs(compiled_backend, monkeypatch):
    """The kernel sees the thread count chosen for its work; the caller's count comes back."""
    backend = get_backend(compiled_backend)
    seen = []
    module = backend.diag
    original = module.weighted_log_prob
    monkeypatch.setattr(
        module,
        "weighted_log_prob",
        lambda *args: (seen.append(backend.threads.get_num_threads()), original(*args))[1],
    )
    model = GaussianMixture(
        2, covariance_type="diag", backend=compiled_backend, random_state=0
    ).fit(np.random.default_rng(0).normal(size=(300, 3)))
    previous = backend.threads.get_num_threads()
    model.predict(np.zeros((10, 3)))
    assert seen == [1]
    assert backend.threads.get_num_threads() == previous
