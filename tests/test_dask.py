"""Dask arrays on a real distributed LocalCluster: same fit as in memory, lost workers survived."""

import logging
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from fastem import GaussianMixture
from fastem.datasets import make_mixture

from .conftest import COVARIANCE_TYPES, kmeans_start, relative_error

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("dask.distributed")

ROWS_PER_BLOCK = 7_000  # not a multiple of the kernels' tasks: blocks end mid-task


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def data():
    X, _ = make_mixture(60_000, 3, 4, separation=6.0, random_state=5)
    return X


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_cluster_fit_equals_in_memory_fit(client, data, covariance_type):
    params = dict(
        covariance_type=covariance_type, tol=0.0, max_iter=12, **kmeans_start(data, covariance_type)
    )
    in_memory = GaussianMixture(4, **params).fit(data)
    distributed_fit = GaussianMixture(4, **params).fit(da.from_array(data, ROWS_PER_BLOCK))
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert relative_error(getattr(distributed_fit, name), getattr(in_memory, name)) < 1e-10
    assert distributed_fit.n_iter_ == 12
    np.testing.assert_allclose(distributed_fit.lower_bounds_, in_memory.lower_bounds_, rtol=1e-10)


def test_weighted_float32_cluster_fit(client, data):
    X = data.astype(np.float32)
    weights = np.random.default_rng(0).uniform(0.0, 2.0, size=X.shape[0])
    params = dict(tol=0.0, max_iter=8, **kmeans_start(X, "full"))
    in_memory = GaussianMixture(4, **params).fit(X, sample_weight=weights)
    for sample_weight in (weights, da.from_array(weights, 5_000)):  # rechunked to match X
        fitted = GaussianMixture(4, **params).fit(
            da.from_array(X, ROWS_PER_BLOCK), sample_weight=sample_weight
        )
        assert relative_error(fitted.covariances_, in_memory.covariances_) < 1e-10


def test_initialisation_on_a_sample_finds_the_mixture(client, data):
    reference = GaussianMixture(4, random_state=0).fit(data)
    fitted = GaussianMixture(4, random_state=0).fit(da.from_array(data, ROWS_PER_BLOCK))
    assert abs(fitted.lower_bound_ - reference.lower_bound_) < 1e-4
    order, expected = np.argsort(fitted.means_[:, 0]), np.argsort(reference.means_[:, 0])
    np.testing.assert_allclose(fitted.means_[order], reference.means_[expected], atol=1e-3)


def test_predictions_are_lazy_and_equal_in_memory(client, data):
    model = GaussianMixture(4, random_state=0).fit(data)
    X = da.from_array(data, ROWS_PER_BLOCK)
    labels = model.predict(X)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), model.predict(data))
    np.testing.assert_array_equal(model.predict_proba(X).compute(), model.predict_proba(data))
    np.testing.assert_array_equal(model.score_samples(X).compute(), model.score_samples(data))
    assert model.score(X) == pytest.approx(model.score(data), rel=1e-12)
    assert model.bic(X) == pytest.approx(model.bic(data), rel=1e-12)
    np.testing.assert_array_equal(
        GaussianMixture(4, random_state=0).fit_predict(X).compute(),
        GaussianMixture(4, random_state=0).fit(X).predict(data),
    )


class _KillWorkerAt(logging.Handler):
    """Kills one worker process when the EM loop logs the given iteration."""

    def __init__(self, client, iteration):
        super().__init__(logging.DEBUG)
        self.client, self.iteration, self.killed = client, iteration, None

    def emit(self, record):
        if record.args and record.args[0] == self.iteration and self.killed is None:
            address, pid = sorted(self.client.run(os.getpid).items())[0]
            os.kill(pid, signal.SIGKILL)
            self.killed = address


def test_a_worker_killed_mid_fit_is_survived(client, data):
    params = dict(tol=0.0, max_iter=10, **kmeans_start(data, "full"))
    X = da.from_array(data, ROWS_PER_BLOCK)
    expected = GaussianMixture(4, **params).fit(X)
    killer = _KillWorkerAt(client, iteration=3)
    logger = logging.getLogger("fastem")
    logger.addHandler(killer)
    previous_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        survived = GaussianMixture(4, **params).fit(X)
    finally:
        logger.removeHandler(killer)
        logger.setLevel(previous_level)
    assert killer.killed is not None
    client.wait_for_workers(2, timeout=60)
    # the lost blocks were recomputed: a fixed-order reduction gives the same bits
    np.testing.assert_array_equal(survived.means_, expected.means_)
    np.testing.assert_array_equal(survived.covariances_, expected.covariances_)
    assert survived.n_iter_ == 10


def test_threaded_scheduler_without_a_cluster(data):
    import dask

    params = dict(tol=0.0, max_iter=5, **kmeans_start(data, "diag"), covariance_type="diag")
    with dask.config.set(scheduler="threads"):
        fitted = GaussianMixture(4, n_jobs=1, **params).fit(da.from_array(data, ROWS_PER_BLOCK))
    in_memory = GaussianMixture(4, **params).fit(data)
    assert relative_error(fitted.covariances_, in_memory.covariances_) < 1e-10


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (
            lambda X: da.from_array(np.where(np.arange(X.shape[0])[:, None] == 9, np.nan, X), 7000),
            "3 NaN",
        ),
        (lambda X: da.from_array(X[:, :, None], 7000), "Expected a 2D Dask array"),
        (lambda X: da.from_array(X.astype(str), 7000), "X holds strings"),
    ],
)
def test_bad_dask_input_is_refused(data, make_input, message):
    import dask

    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError, match=message):
        GaussianMixture(2).fit(make_input(data))


def test_bad_dask_weights_are_refused(data):
    import dask

    X = da.from_array(data, ROWS_PER_BLOCK)
    with dask.config.set(scheduler="synchronous"):
        with pytest.raises(ValueError, match="one weight per row"):
            GaussianMixture(2).fit(X, sample_weight=da.ones(10, chunks=5))
        with pytest.raises(ValueError, match="non-negative"):
            GaussianMixture(2).fit(X, sample_weight=-da.ones(data.shape[0], chunks=9000))


def test_fastem_imports_and_fits_without_dask():
    code = (
        "import sys; sys.modules['dask'] = None; sys.modules['dask.array'] = None\n"
        "import numpy as np, fastem\n"
        "X = np.random.default_rng(0).normal(size=(500, 2))\n"
        "print(fastem.GaussianMixture(2, random_state=0).fit(X).n_iter_ > 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_bayesian_cluster_fit_equals_in_memory_fit(client, data):
    import copy

    from fastem import BayesianGaussianMixture

    start = BayesianGaussianMixture(n_components=6, max_iter=1, random_state=0).fit(data)
    in_memory = copy.deepcopy(start).set_params(warm_start=True, max_iter=10, tol=0.0)
    distributed_fit = copy.deepcopy(in_memory)
    in_memory.fit(data)
    distributed_fit.fit(da.from_array(data, ROWS_PER_BLOCK))
    for name in ("weights_", "means_", "covariances_", "mean_precision_", "degrees_of_freedom_"):
        assert relative_error(getattr(distributed_fit, name), getattr(in_memory, name)) < 1e-10
    np.testing.assert_allclose(distributed_fit.lower_bounds_, in_memory.lower_bounds_, rtol=1e-10)
