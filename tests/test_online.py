"""Stepwise online EM (partial_fit) and the statistics algebra it rests on."""

import numpy as np
import pytest

from fastem import GaussianMixture
from fastem._em import expectation
from fastem._online import STEP_DECAY, step_size
from fastem._stats import SufficientStats
from fastem.backends import numpy_backend
from fastem.datasets import make_mixture

from .conftest import BACKENDS, COVARIANCE_TYPES, init_arrays, random_mixture, relative_error


def _stats_about(X, mixture, shift, scatter_shift):
    """Statistics of X under mixture, summed about the given centres (NumPy reference)."""
    stats = SufficientStats.zeros(mixture.covariance_type, shift, scatter_shift)
    resp = np.exp(numpy_backend.weighted_log_prob(X, mixture))
    resp /= resp.sum(axis=1, keepdims=True)
    numpy_backend.stats_from_resp(X, resp, None, stats)
    return stats


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_recentred_statistics_equal_sums_taken_about_the_new_centres(covariance_type):
    rng = np.random.default_rng(0)
    mixture = random_mixture(rng, covariance_type, 3, 4, offset=1e4)
    X = 1e4 + rng.normal(scale=3.0, size=(2000, 4))
    old_shift, new_shift = 1e4 + rng.normal(size=(2, 3, 4))
    old_centre, new_centre = 1e4 + rng.normal(size=(2, 4))
    about_old = _stats_about(X, mixture, old_shift, old_centre)
    about_new = _stats_about(X, mixture, new_shift, new_centre)
    moved = about_old.recentred(new_shift, new_centre if covariance_type == "tied" else None)
    upper = np.triu if covariance_type in ("full", "tied") else (lambda a: a)
    assert relative_error(moved.first, about_new.first) < 1e-10
    assert relative_error(upper(moved.second), upper(about_new.second)) < 1e-10


def test_step_sizes_follow_the_documented_schedule():
    assert step_size(0) == 1.0
    steps = np.array([step_size(t) for t in range(1, 10_000)])
    np.testing.assert_allclose(steps, np.arange(2, 10_001) ** -STEP_DECAY)
    assert 0.5 < STEP_DECAY <= 1.0  # Σ η = ∞, Σ η² < ∞


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_first_batch_is_one_em_iteration(covariance_type, backend, blobs):
    start = GaussianMixture(4, covariance_type=covariance_type, max_iter=0, random_state=0)
    params = dict(
        covariance_type=covariance_type, backend=backend, **init_arrays(start.fit(blobs)._mixture)
    )
    em = GaussianMixture(4, max_iter=1, tol=0.0, **params).fit(blobs)
    online = GaussianMixture(4, **params).partial_fit(blobs)
    assert relative_error(online.means_, em.means_) < 1e-12
    assert relative_error(online.covariances_, em.covariances_) < 1e-12
    assert relative_error(online.weights_, em.weights_) < 1e-12
    assert online.n_iter_ == 1 and not online.converged_
    assert online.lower_bound_ == pytest.approx(em.lower_bound_, rel=1e-12)


def test_second_batch_blends_with_the_documented_step(blobs):
    """Two batches: the running statistics are (1 − η) ŝ_A + η ŝ_B per unit weight, η = 2^−0.7."""
    batch_a, batch_b = blobs[:1000], blobs[1000:]
    entering_a = GaussianMixture(4, random_state=0, max_iter=0).fit(batch_a)._mixture
    model = GaussianMixture(4, random_state=0).partial_fit(batch_a)
    entering_b = model._mixture
    model.partial_fit(batch_b)
    running = model._online_state.statistics
    stats_a = expectation(batch_a, None, entering_a, numpy_backend)
    stats_b = expectation(batch_b, None, entering_b, numpy_backend)
    eta = step_size(1)
    expected = [
        (1 - eta) * a + eta * b
        for a, b in zip(
            _per_unit_about(stats_a, running), _per_unit_about(stats_b, running), strict=True
        )
    ]
    for actual, wanted in zip((running.resp_sum, running.first), expected, strict=True):
        assert relative_error(actual, wanted) < 1e-10
    assert model.n_iter_ == 2 and len(model.lower_bounds_) == 2
    assert model.lower_bound_ == pytest.approx(stats_b.mean_log_likelihood, rel=1e-10)


def _per_unit_about(stats, running):
    moved = stats.scaled(1.0 / stats.total_weight).recentred(running.shift)
    return moved.resp_sum, moved.first


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_stream_reaches_batch_em_log_likelihood(covariance_type):
    """One pass in mini-batches gets within 1% of batch EM's log-likelihood."""
    X, _ = make_mixture(100_000, 4, 5, separation=8.0, random_state=11)
    batch_em = GaussianMixture(5, covariance_type=covariance_type, random_state=0).fit(X)
    stream = GaussianMixture(5, covariance_type=covariance_type, random_state=0)
    for batch in np.array_split(X, 100):
        stream.partial_fit(batch)
    assert stream.n_iter_ == 100
    gap = abs(stream.score(X) - batch_em.score(X)) / abs(batch_em.score(X))
    assert gap < 0.01, (stream.score(X), batch_em.score(X))


def test_batch_weights_count_per_unit_weight(blobs):
    """Doubling every weight of a batch changes nothing: batches blend per unit weight."""
    start = init_arrays(GaussianMixture(4, random_state=0, max_iter=0).fit(blobs)._mixture)
    plain = GaussianMixture(4, **start)
    weighted = GaussianMixture(4, **start)
    for batch in np.array_split(blobs, 3):
        plain.partial_fit(batch)
        weighted.partial_fit(batch, sample_weight=np.full(batch.shape[0], 2.0))
    assert relative_error(weighted.covariances_, plain.covariances_) < 1e-12


def test_float32_batches_and_offset_data():
    X, _ = make_mixture(20_000, 3, 3, separation=8.0, random_state=2)
    X = (X + 1e5).astype(np.float32)
    model = GaussianMixture(3, random_state=0)
    for batch in np.array_split(X, 20):
        model.partial_fit(batch)
    assert np.all(np.linalg.eigvalsh(model.covariances_) > 0)
    reference = GaussianMixture(3, random_state=0).fit(X.astype(np.float64))
    assert abs(model.score(X) - reference.score(X)) / abs(reference.score(X)) < 0.01


def test_partial_fit_after_fit_continues_from_the_fitted_model(blobs):
    fitted = GaussianMixture(4, random_state=0, tol=1e-8, max_iter=500).fit(blobs)
    means = fitted.means_.copy()
    fitted.partial_fit(blobs)  # at a fixed point of EM, one more step on all rows stays there
    assert relative_error(fitted.means_, means) < 1e-5
    assert fitted.n_iter_ == 1


def test_partial_fit_errors(blobs):
    model = GaussianMixture(4, random_state=0)
    with pytest.raises(ValueError, match="at least n_components = 4"):
        model.partial_fit(blobs[:3])
    model.partial_fit(blobs[:100])
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(blobs[:100, :2])
    bad = blobs[:100].copy()
    bad[5, 1] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        model.partial_fit(bad)
