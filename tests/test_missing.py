"""GaussianMixture(missing='em'): EM with NaN entries as latent variables.

The truth is a deliberately naive EM written here: per row and per component,
the dense marginal and conditional Gaussians of the textbook (Little & Rubin,
ch. 11), the completed data's moments summed row by row.
"""

import numpy as np
import pytest
from sklearn import config_context

from fastem import GaussianMixture, load
from fastem._mixture import as_full_covariances, covariances_from_cholesky
from fastem.datasets import make_mixture

from .conftest import BACKENDS, COMPILED_BACKENDS, COVARIANCE_TYPES, init_arrays, random_mixture
from .conftest import relative_error as rel

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

REG_COVAR = 1e-6


def _log_gaussian(x, mean, covariance):
    """log N(x | mean, covariance), 0 for a vector of no coordinates."""
    if x.size == 0:
        return 0.0
    diff = x - mean
    _, log_det = np.linalg.slogdet(covariance)
    return -0.5 * (x.size * np.log(2 * np.pi) + log_det + diff @ np.linalg.solve(covariance, diff))


def naive_em(X, weights, means, covariances, layout, n_iter):
    """n_iter EM iterations from (weights, means, full covariances (K, D, D)).

    Returns the observed-data log-likelihood entering each iteration and the
    final (weights, means, covariances in the layout's shape).
    """
    n_samples, n_features = X.shape
    n_components = len(weights)
    bounds = []
    for _ in range(n_iter):
        resp_sum = np.zeros(n_components)
        first = np.zeros((n_components, n_features))
        second = np.zeros((n_components, n_features, n_features))
        loglik = 0.0
        for x in X:
            obs = ~np.isnan(x)
            mis = ~obs
            log_p = np.array(
                [
                    np.log(weights[k])
                    + _log_gaussian(x[obs], means[k][obs], covariances[k][np.ix_(obs, obs)])
                    for k in range(n_components)
                ]
            )
            top = log_p.max()
            log_px = top + np.log(np.exp(log_p - top).sum())
            loglik += log_px
            resp = np.exp(log_p - log_px)
            for k in range(n_components):
                sigma = covariances[k]
                x_hat = x.copy()
                extra = np.zeros((n_features, n_features))
                if mis.any():
                    s_oo = sigma[np.ix_(obs, obs)]
                    s_mo = sigma[np.ix_(mis, obs)]
                    b = s_mo @ np.linalg.inv(s_oo) if obs.any() else np.zeros((mis.sum(), 0))
                    x_hat[mis] = means[k][mis] + b @ (x[obs] - means[k][obs])
                    extra[np.ix_(mis, mis)] = sigma[np.ix_(mis, mis)] - b @ s_mo.T
                resp_sum[k] += resp[k]
                first[k] += resp[k] * x_hat
                second[k] += resp[k] * (np.outer(x_hat, x_hat) + extra)
        bounds.append(loglik / n_samples)
        weights = resp_sum / n_samples
        means = first / resp_sum[:, None]
        scatter = second - resp_sum[:, None, None] * np.einsum("ki,kj->kij", means, means)
        eye = np.eye(n_features)
        if layout == "full":
            fitted = scatter / resp_sum[:, None, None] + REG_COVAR * eye
        elif layout == "tied":
            fitted = scatter.sum(axis=0) / n_samples + REG_COVAR * eye
        else:
            diagonal = np.diagonal(scatter, axis1=1, axis2=2) / resp_sum[:, None] + REG_COVAR
            fitted = diagonal if layout == "diag" else diagonal.mean(axis=1)
        covariances = as_full_covariances(fitted, layout, n_components, n_features)
    return bounds, weights, means, fitted


def _holes(X, fraction, seed, empty_rows=()):
    """X with a fraction of its entries set to NaN at random (a copy)."""
    rng = np.random.default_rng(seed)
    holed = X.copy()
    holed[rng.random(X.shape) < fraction] = np.nan
    holed[list(empty_rows)] = np.nan
    return holed


@pytest.fixture(scope="module")
def holed():
    X, _ = make_mixture(240, 4, 3, separation=3.0, random_state=5)
    return _holes(X, 0.25, 0, empty_rows=(7, 100))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_matches_the_naive_reference(holed, covariance_type, backend):
    mixture = random_mixture(np.random.default_rng(3), covariance_type, 3, 4)
    n_iter = 4
    model = GaussianMixture(
        3,
        covariance_type=covariance_type,
        missing="em",
        backend=backend,
        max_iter=n_iter,
        tol=0,
        reg_covar=REG_COVAR,
        **init_arrays(mixture),
    ).fit(holed)
    covariances = covariances_from_cholesky(mixture.precisions_cholesky, covariance_type)
    bounds, weights, means, fitted = naive_em(
        holed,
        mixture.weights,
        mixture.means,
        as_full_covariances(covariances, covariance_type, 3, 4),
        covariance_type,
        n_iter,
    )
    assert len(np.unique(np.isnan(holed), axis=0)) > 8  # several patterns, empty rows too
    assert rel(model.lower_bounds_, bounds) < 1e-10
    assert rel(model.weights_, weights) < 1e-10
    assert rel(model.means_, means) < 1e-10
    assert rel(model.covariances_, fitted) < 1e-10
    # the observed-data log-likelihood of the final parameters, row by row
    reference = naive_em(
        holed,
        model.weights_,
        model.means_,
        as_full_covariances(fitted, covariance_type, 3, 4),
        covariance_type,
        1,
    )[0][0]
    assert model.score(holed) == pytest.approx(reference, rel=1e-10)


@pytest.mark.parametrize("covariance_type", ["VEV", "EVI", "EEV", "VII"])
def test_parsimonious_models_never_lower_the_likelihood(holed, covariance_type):
    fits = [
        GaussianMixture(
            3,
            covariance_type=covariance_type,
            missing="em",
            backend=backend,
            max_iter=40,
            tol=0,
            random_state=0,
        ).fit(holed)
        for backend in BACKENDS
    ]
    for fit in fits:
        assert np.all(np.diff(fit.lower_bounds_) > -1e-9 * (1 + np.abs(fit.lower_bounds_[1:])))
        assert rel(fit.covariances_, fits[0].covariances_) < 1e-9


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_complete_data_gives_the_same_bits(blobs, covariance_type, backend):
    kwargs = dict(covariance_type=covariance_type, backend=backend, random_state=0, n_init=2)
    plain = GaussianMixture(4, **kwargs).fit(blobs)
    em = GaussianMixture(4, missing="em", **kwargs).fit(blobs)
    for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
        assert np.array_equal(getattr(plain, name), getattr(em, name)), name
    assert np.array_equal(plain.score_samples(blobs), em.score_samples(blobs))


@pytest.mark.parametrize("backend", COMPILED_BACKENDS)
def test_bitwise_identical_for_any_thread_count(backend):
    X, _ = make_mixture(6000, 5, 3, random_state=1)
    holed = _holes(X, 0.1, 1)
    fits = [
        GaussianMixture(3, missing="em", backend=backend, n_jobs=n_jobs, random_state=0).fit(holed)
        for n_jobs in (1, 2)
    ]
    for name in ("means_", "covariances_", "lower_bounds_"):
        assert np.array_equal(getattr(fits[0], name), getattr(fits[1], name)), name


def test_input_is_not_written_and_inf_is_refused(holed):
    before = holed.copy()
    model = GaussianMixture(3, missing="em", random_state=0).fit(holed)
    model.impute(holed)
    model.sample_imputations(holed, 2, random_state=0)
    model.predict_proba(holed)
    assert np.array_equal(before, holed, equal_nan=True)
    bad = holed.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        GaussianMixture(3, missing="em").fit(bad)


def test_nan_without_the_switch_names_it(holed):
    with pytest.raises(ValueError, match="missing='em'"):
        GaussianMixture(3).fit(holed)
    model = GaussianMixture(3, random_state=0).fit(np.nan_to_num(holed))
    with pytest.raises(ValueError, match="missing='em'"):
        model.predict(holed)
    with pytest.raises(ValueError, match="'missing' parameter"):
        GaussianMixture(3, missing="drop").fit(holed)


def test_rows_with_no_observed_value_get_the_prior(holed):
    model = GaussianMixture(3, missing="em", random_state=0).fit(holed)
    empty = np.full((2, 4), np.nan)
    assert np.allclose(model.score_samples(empty), 0.0)
    assert np.allclose(model.predict_proba(empty), model.weights_)
    assert np.allclose(model.impute(empty), model.weights_ @ model.means_)


def test_a_column_never_observed_is_refused(holed):
    bad = holed.copy()
    bad[:, 2] = np.nan
    with pytest.raises(ValueError, match="Column 2 of X has no observed value"):
        GaussianMixture(3, missing="em").fit(bad)


def test_marginal_scores_match_the_submodel(holed):
    """A row missing column j scores as the mixture of the other columns does."""
    model = GaussianMixture(3, missing="em", random_state=0).fit(holed)
    rows = np.nan_to_num(holed[:20], nan=0.5)
    rows[:, 1] = np.nan
    keep = [0, 2, 3]
    sub = GaussianMixture(3, random_state=0)
    sub.weights_, sub.means_ = model.weights_, model.means_[:, keep]
    sub.covariances_ = model.covariances_[:, keep][:, :, keep]
    sub.precisions_cholesky_ = np.stack(
        [np.linalg.inv(np.linalg.cholesky(c)).T for c in sub.covariances_]
    )
    sub.precisions_ = np.stack([np.linalg.inv(c) for c in sub.covariances_])
    sub.n_features_in_, sub.converged_ = 3, True
    assert rel(model.score_samples(rows), sub.score_samples(rows[:, keep])) < 1e-12
    assert rel(model.predict_proba(rows), sub.predict_proba(rows[:, keep])) < 1e-12


def test_impute_is_the_conditional_expectation():
    rng = np.random.default_rng(0)
    covariance = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, 0.3], [0.0, 0.3, 2.0]])
    X = rng.multivariate_normal([1.0, -1.0, 0.0], covariance, size=4000)
    model = GaussianMixture(1, missing="em", random_state=0).fit(X)
    rows = np.array([[2.0, np.nan, np.nan], [np.nan, 0.0, 1.0]])
    sigma, mu = model.covariances_[0], model.means_[0]
    expected = rows.copy()
    for row, x in zip(expected, rows, strict=True):
        obs, mis = ~np.isnan(x), np.isnan(x)
        regression = sigma[np.ix_(mis, obs)] @ np.linalg.inv(sigma[np.ix_(obs, obs)])
        row[mis] = mu[mis] + regression @ (x[obs] - mu[obs])
    assert rel(model.impute(rows), expected) < 1e-12
    draws = model.sample_imputations(rows, 4000, random_state=0)
    assert draws.shape == (4000, 2, 3)
    assert np.allclose(draws.mean(axis=0), expected, atol=0.06)
    observed = ~np.isnan(rows)
    assert np.all(draws[:, observed] == rows[observed])
    # the spread of x₂ | x₁ = 2 is the conditional variance Σ₂₂ − Σ₂₁²/Σ₁₁
    conditional = sigma[1, 1] - sigma[1, 0] ** 2 / sigma[0, 0]
    assert np.var(draws[:, 0, 1]) == pytest.approx(conditional, rel=0.08)
    with pytest.raises(ValueError, match="n_imputations"):
        model.sample_imputations(rows, 0)


def _errors(model, reference):
    """(largest move of a mean, largest covariance entry change) from the reference fit."""
    order = [int(np.argmin(np.linalg.norm(model.means_ - m, axis=1))) for m in reference.means_]
    return (
        np.max(np.linalg.norm(model.means_[order] - reference.means_, axis=1)),
        np.max(np.abs(model.covariances_[order] - reference.covariances_)),
    )


def _recovery(n_samples, fraction):
    """Errors of EM, dropped rows and mean imputation against the complete-data fit."""
    X, _ = make_mixture(n_samples, 4, 2, separation=5.0, random_state=2)
    holed = _holes(X, fraction, 4)
    kwargs = dict(random_state=0, n_init=2, tol=1e-6)
    complete = GaussianMixture(2, **kwargs).fit(X)
    em = GaussianMixture(2, missing="em", **kwargs).fit(holed)
    dropped = GaussianMixture(2, **kwargs).fit(holed[~np.isnan(holed).any(axis=1)])
    column_means = np.nanmean(holed, axis=0)
    filled = GaussianMixture(2, **kwargs).fit(np.where(np.isnan(holed), column_means, holed))
    missing = np.isnan(holed)
    rmse = {
        "em": np.sqrt(np.mean((em.impute(holed)[missing] - X[missing]) ** 2)),
        "mean": np.sqrt(np.mean((column_means[np.nonzero(missing)[1]] - X[missing]) ** 2)),
    }
    return [_errors(m, complete) for m in (em, dropped, filled)], rmse


def test_em_is_closer_than_dropping_rows_or_filling_means():
    (em, dropped, filled), rmse = _recovery(2000, 0.3)
    for other in (dropped, filled):
        assert em[0] < other[0] and em[1] < other[1]
    assert rmse["em"] < 0.8 * rmse["mean"]
    (larger, _, _), _ = _recovery(8000, 0.3)
    assert larger[0] < em[0] and larger[1] < em[1]  # closer to the complete-data fit


def test_out_of_core_and_dask_give_the_in_memory_fit(holed, tmp_path):
    dask_array = pytest.importorskip("dask.array")
    path = tmp_path / "holed.npy"
    np.save(path, holed)
    kwargs = dict(missing="em", random_state=0, tol=0, max_iter=15)
    in_memory = GaussianMixture(3, **kwargs).fit(holed)
    with config_context(working_memory=0.01):  # chunks of 1,024 rows: several patterns each
        chunked = GaussianMixture(3, **kwargs).fit(np.load(path, mmap_mode="r"))
    lazy = GaussianMixture(3, **kwargs).fit(dask_array.from_array(holed, chunks=(80, 4)))
    for other in (chunked, lazy):
        for name in ("means_", "covariances_", "lower_bounds_"):
            assert rel(getattr(other, name), getattr(in_memory, name)) < 1e-10, name
    assert (
        rel(chunked.score_samples(np.load(path, mmap_mode="r")), in_memory.score_samples(holed))
        < 1e-12
    )
    assert (
        rel(
            lazy.predict_proba(dask_array.from_array(holed, chunks=(80, 4))).compute(),
            in_memory.predict_proba(holed),
        )
        < 1e-10
    )


def test_weights_are_repeated_rows(holed):
    counts = np.random.default_rng(0).integers(0, 3, size=holed.shape[0])
    counts[[7, 100]] = 1
    start = init_arrays(
        GaussianMixture(3, missing="em", max_iter=0, random_state=0).fit(holed)._mixture
    )
    kwargs = dict(missing="em", tol=0, max_iter=10, **start)
    weighted = GaussianMixture(3, **kwargs).fit(holed, sample_weight=counts)
    repeated = GaussianMixture(3, **kwargs).fit(np.repeat(holed, counts, axis=0))
    for name in ("weights_", "means_", "covariances_"):
        assert rel(getattr(weighted, name), getattr(repeated, name)) < 1e-10, name


def test_float32_partial_fit_and_save(holed, tmp_path):
    model = GaussianMixture(3, missing="em", random_state=0).fit(holed.astype(np.float32))
    assert model.means_.dtype == np.float32 and np.all(np.isfinite(model.covariances_))
    assert model.impute(holed.astype(np.float32)).dtype == np.float32
    stream = GaussianMixture(3, missing="em", random_state=0)
    for batch in np.array_split(holed, 4):
        stream.partial_fit(batch)
    assert np.all(np.isfinite(stream.means_))
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = load(path)
    assert loaded.missing == "em"
    assert np.array_equal(loaded.score_samples(holed), model.score_samples(holed))


def test_iris_with_holes_as_in_the_readme():
    """The README's example: a real table, 20% of its cells lost."""
    from sklearn.datasets import load_iris
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    X, y = StandardScaler().fit_transform(load_iris().data), load_iris().target
    holed = _holes(X, 0.2, 0)
    lost = np.isnan(holed)
    model = GaussianMixture(3, missing="em", n_init=5, random_state=0).fit(holed)
    means = np.where(lost, np.nanmean(holed, axis=0), holed)
    rmse = {
        "em": np.sqrt(np.mean((model.impute(holed)[lost] - X[lost]) ** 2)),
        "means": np.sqrt(np.mean((means[lost] - X[lost]) ** 2)),
    }
    assert rmse["em"] < 0.5 * rmse["means"]
    filled_fit = GaussianMixture(3, n_init=5, random_state=0).fit(means)
    em_ari = adjusted_rand_score(y, model.predict(holed))
    assert em_ari > adjusted_rand_score(y, filled_fit.predict(means)) + 0.2
    assert model.bic(holed) == pytest.approx(
        -2 * model.score(holed) * 150 + model._n_parameters() * np.log(150)
    )


def test_model_selection_with_missing_values(holed):
    from fastem import GaussianMixtureSelection

    search = GaussianMixtureSelection(
        [1, 2, 3], covariance_types=["VVV", "VVI"], missing="em", random_state=0
    ).fit(holed)
    assert search.best_estimator_.missing == "em"
    assert np.isfinite(search.results_["bic"]).sum() >= 4
    with pytest.raises(ValueError, match="missing='em'"):
        GaussianMixtureSelection([1, 2], covariance_types=["VVV"]).fit(holed)
