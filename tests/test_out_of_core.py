"""Memory-mapped data read in chunks: same fit as in memory, bounded memory, clear errors."""

import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest
from sklearn import config_context

from fastem import GaussianMixture, fit_file
from fastem._data import (
    CHUNKS_HELD,
    INIT_SAMPLE_SHARE,
    TASK_ROWS,
    ArrayRows,
    rows_within,
    sample_rows,
)
from fastem.datasets import make_mixture

from .conftest import BACKENDS, COMPILED_BACKENDS, COVARIANCE_TYPES, kmeans_start, relative_error

TINY_BUDGET_MIB = 0.1  # 100 KiB: a few thousand rows per chunk, so every fit below has many


def _memmap(tmp_path, X, name="X.npy"):
    path = tmp_path / name
    np.save(path, X)
    return np.load(path, mmap_mode="r")


@pytest.fixture(scope="module")
def mixture_data():
    X, _ = make_mixture(40_000, 3, 4, separation=4.0, random_state=3)
    return X


def test_chunks_are_whole_tasks_within_the_budget():
    assert rows_within(10 * 2**20, 100, 10**9) % TASK_ROWS == 0
    assert rows_within(10 * 2**20, 100, 10**9) * 100 <= 10 * 2**20
    assert rows_within(10, 100, 10**9) == TASK_ROWS  # at least one task
    assert rows_within(10 * 2**20, 100, 5000) == 5000


def test_row_sample_is_sorted_distinct_and_in_range():
    rows = sample_rows(10**12, 1000, np.random.RandomState(0))  # O(sample) memory
    assert np.all(np.diff(rows) > 0) and rows[0] >= 0 and rows[-1] < 10**12
    assert 990 <= rows.size <= 1000
    assert np.array_equal(sample_rows(50, 1000, np.random.RandomState(0)), np.arange(50))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("backend", BACKENDS)
def test_chunked_fit_equals_in_memory_fit(tmp_path, mixture_data, covariance_type, dtype, backend):
    X = mixture_data.astype(dtype)
    params = dict(
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=15,
        backend=backend,
        **kmeans_start(X, covariance_type),
    )
    in_memory = GaussianMixture(4, **params).fit(X)
    X_mapped = _memmap(tmp_path, X)
    with config_context(working_memory=TINY_BUDGET_MIB):
        assert ArrayRows.out_of_core(X_mapped, None).chunk_rows < X.shape[0] // 4
        chunked = GaussianMixture(4, **params).fit(X_mapped)
    if backend in COMPILED_BACKENDS:  # chunks of whole tasks: the same sums, bit for bit
        np.testing.assert_array_equal(chunked.means_, in_memory.means_)
        np.testing.assert_array_equal(chunked.covariances_, in_memory.covariances_)
        assert chunked.lower_bounds_ == in_memory.lower_bounds_
    else:
        assert relative_error(chunked.covariances_, in_memory.covariances_) < 1e-12
    assert chunked.means_.dtype == dtype  # the attributes follow the data, as scikit-learn >= 1.8


def test_chunked_predictions_equal_in_memory(tmp_path, mixture_data):
    model = GaussianMixture(4, random_state=0).fit(mixture_data)
    X_mapped = _memmap(tmp_path, mixture_data)
    with config_context(working_memory=TINY_BUDGET_MIB):
        np.testing.assert_array_equal(model.predict(X_mapped), model.predict(mixture_data))
        np.testing.assert_array_equal(
            model.score_samples(X_mapped), model.score_samples(mixture_data)
        )
        np.testing.assert_array_equal(
            model.predict_proba(X_mapped), model.predict_proba(mixture_data)
        )
        assert model.bic(X_mapped) == model.bic(mixture_data)


def test_weighted_chunked_fit_with_mapped_weights(tmp_path, mixture_data):
    weights = np.random.default_rng(1).uniform(0.0, 3.0, size=mixture_data.shape[0])
    params = dict(tol=0.0, max_iter=10, **kmeans_start(mixture_data, "full"))
    in_memory = GaussianMixture(4, **params).fit(mixture_data, sample_weight=weights)
    with config_context(working_memory=TINY_BUDGET_MIB):
        chunked = GaussianMixture(4, **params).fit(
            _memmap(tmp_path, mixture_data), sample_weight=_memmap(tmp_path, weights, "w.npy")
        )
    assert relative_error(chunked.covariances_, in_memory.covariances_) < 1e-12
    assert relative_error(chunked.means_, in_memory.means_) < 1e-12


@pytest.mark.parametrize("layout", ["int32", "fortran"])
def test_chunks_convert_any_numeric_layout(tmp_path, mixture_data, layout):
    X = np.round(mixture_data * 100)
    stored = X.astype(np.int32) if layout == "int32" else np.asfortranarray(X)
    params = dict(tol=0.0, max_iter=8, **kmeans_start(X, "full"))
    in_memory = GaussianMixture(4, **params).fit(X)
    with config_context(working_memory=TINY_BUDGET_MIB):
        chunked = GaussianMixture(4, **params).fit(_memmap(tmp_path, stored))
    np.testing.assert_array_equal(chunked.means_, in_memory.means_)


def test_small_file_initialises_as_in_memory(tmp_path, mixture_data):
    """When the whole file fits the initialisation sample, k-means sees the same rows."""
    in_memory = GaussianMixture(4, random_state=5).fit(mixture_data)
    chunked = GaussianMixture(4, random_state=5).fit(_memmap(tmp_path, mixture_data))
    np.testing.assert_array_equal(chunked.means_, in_memory.means_)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sampled_initialisation_finds_the_mixture(tmp_path, seed):
    """With a budget far below the file, k-means runs on a sample and EM on every row."""
    X, _ = make_mixture(40_000, 3, 4, separation=10.0, random_state=seed)
    reference = GaussianMixture(4, random_state=seed).fit(X)
    with config_context(working_memory=TINY_BUDGET_MIB):
        assert ArrayRows.out_of_core(X, None).chunk_rows < X.shape[0]
        chunked = GaussianMixture(4, random_state=seed).fit(_memmap(tmp_path, X))
    order = np.argsort(chunked.means_[:, 0])
    expected = np.argsort(reference.means_[:, 0])
    np.testing.assert_allclose(chunked.means_[order], reference.means_[expected], atol=1e-3)
    assert abs(chunked.lower_bound_ - reference.lower_bound_) < 1e-4


def test_bad_values_are_reported_with_their_row_in_the_file(tmp_path, mixture_data):
    X = mixture_data.copy()
    X[33_333, 2] = np.nan
    with config_context(working_memory=TINY_BUDGET_MIB):
        with pytest.raises(ValueError, match=r"NaN .* at row 33333, column 2"):
            GaussianMixture(4).fit(_memmap(tmp_path, X))
        weights = np.ones(X.shape[0])
        weights[30_000] = -1.0
        with pytest.raises(ValueError, match="non-negative"):
            GaussianMixture(4).fit(
                _memmap(tmp_path, mixture_data), sample_weight=_memmap(tmp_path, weights, "w.npy")
            )


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros(10), "Expected a 2D array"),
        (np.array([["a", "b"], ["c", "d"]]), "X holds strings"),
        (np.zeros((1, 3)), "minimum of 2"),
    ],
)
def test_bad_memory_maps_are_refused(tmp_path, array, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(1).fit(_memmap(tmp_path, array))


def test_fit_file(tmp_path):
    X, _ = make_mixture(40_000, 3, 4, separation=10.0, random_state=4)
    path = tmp_path / "points.npy"
    np.save(path, X.astype(np.float32))
    model = fit_file(path, 4, working_memory=TINY_BUDGET_MIB, random_state=0)
    reference = GaussianMixture(4, random_state=0).fit(X.astype(np.float32))
    assert abs(model.lower_bound_ - reference.lower_bound_) < 1e-3
    assert model.n_features_in_ == 3


def test_fit_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file"):
        fit_file(tmp_path / "missing.npy", 2)
    np.savez(tmp_path / "archive.npz", X=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="not a .npy file"):
        fit_file(tmp_path / "archive.npz", 2)
    (tmp_path / "text.npy").write_text("1,2\n3,4\n")
    with pytest.raises(ValueError, match="not a .npy array file"):
        fit_file(tmp_path / "text.npy", 2)


@pytest.mark.parametrize("dtype", ["float64", "int16"])  # read in place / converted per chunk
def test_one_chunk_is_alive_at_a_time(tmp_path, dtype):
    # The arrays a fit allocates (tracemalloc sees NumPy's), deterministically: a chunk
    # (half the budget) and the initialisation sample (a quarter) at most, never the
    # previous chunk still held while the next one is read.
    X, _ = make_mixture(400_000, 16, 4, random_state=0)
    path = tmp_path / "big.npy"
    np.save(path, (X * 100).astype(dtype))
    budget_mib = 2.0
    fit_file(path, 4, covariance_type="diag", max_iter=1, working_memory=budget_mib)  # warm up
    tracemalloc.start()
    try:
        model = fit_file(
            path, 4, covariance_type="diag", max_iter=3, tol=0.0, working_memory=budget_mib
        )
        traced_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert model.n_iter_ == 3
    budget = budget_mib * 2**20
    assert traced_peak < budget / CHUNKS_HELD + budget / INIT_SAMPLE_SHARE, traced_peak / budget


PEAK_SCRIPT = textwrap.dedent("""
    import sys
    from fastem import fit_file
    from fastem.bench_beyond_memory import peak_anonymous_growth

    path, budget_mib = sys.argv[1], float(sys.argv[2])
    fit_file(path, 4, covariance_type="diag", max_iter=2, working_memory=budget_mib)  # warm up
    extra, model = peak_anonymous_growth(lambda: fit_file(
        path, 4, covariance_type="diag", max_iter=3, tol=0.0, working_memory=budget_mib))
    print(extra, model.n_iter_)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("dtype", ["float32", "int16"])  # read in place / converted per chunk
def test_peak_anonymous_memory_stays_within_the_budget(tmp_path, dtype):
    X, _ = make_mixture(2_000_000, 16, 4, random_state=0)
    path = tmp_path / "big.npy"
    np.save(path, (X * 100).astype(dtype))
    file_bytes = path.stat().st_size
    budget_mib = 8
    result = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(path), str(budget_mib)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    extra, n_iter = (int(v) for v in result.stdout.split())
    assert n_iter == 3
    assert extra < budget_mib * 2**20, (extra, file_bytes)  # the model here is a few KiB
    assert extra < file_bytes / 4
    print(
        f"extra anonymous memory {extra / 2**20:.1f} MiB for a {file_bytes / 2**20:.0f} MiB "
        f"{dtype} file, budget {budget_mib} MiB"
    )
