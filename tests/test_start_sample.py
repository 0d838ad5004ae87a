"""A k-means start on a sample of the rows: as good as on all of them, the same from any source."""

import numpy as np
import pytest
from sklearn import config_context

import fastem._base
from fastem import GaussianMixture
from fastem.datasets import make_mixture

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def overlapping():
    X, _ = make_mixture(30_000, 4, 5, separation=2.0, random_state=4)
    return X


def _final_log_likelihoods(X, seeds, cap, monkeypatch):
    monkeypatch.setattr(fastem._base, "KMEANS_SAMPLE_ROWS", cap)
    return np.array(
        [GaussianMixture(5, random_state=seed, tol=1e-4).fit(X).score(X) for seed in seeds]
    )


def test_a_sampled_start_is_no_worse(overlapping, monkeypatch):
    seeds = range(12)
    sampled = _final_log_likelihoods(overlapping, seeds, 2000, monkeypatch)
    whole = _final_log_likelihoods(overlapping, seeds, 10**9, monkeypatch)
    assert not np.array_equal(sampled, whole)  # the starts did differ
    assert np.median(sampled) >= np.median(whole) - 2e-3
    assert sampled.mean() >= whole.mean() - 2e-3


def test_the_sample_is_the_same_in_memory_and_out_of_core(overlapping, tmp_path, monkeypatch):
    monkeypatch.setattr(fastem._base, "KMEANS_SAMPLE_ROWS", 2000)
    path = tmp_path / "X.npy"
    np.save(path, overlapping)
    in_memory = GaussianMixture(5, random_state=0, max_iter=5).fit(overlapping)
    with config_context(working_memory=1):
        on_disk = GaussianMixture(5, random_state=0, max_iter=5).fit(np.load(path, mmap_mode="r"))
    for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
        assert np.array_equal(getattr(in_memory, name), getattr(on_disk, name)), name


def test_random_starts_still_see_every_row(overlapping, monkeypatch):
    """'random' and 'random_from_data' draw what scikit-learn draws from all rows."""
    monkeypatch.setattr(fastem._base, "KMEANS_SAMPLE_ROWS", 2000)
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

    X = overlapping  # more rows than the k-means sample
    ours = GaussianMixture(3, init_params="random_from_data", random_state=1, max_iter=0).fit(X)
    theirs = SklearnGaussianMixture(
        3, init_params="random_from_data", random_state=1, max_iter=0
    ).fit(X)
    assert np.allclose(ours.means_, theirs.means_)
