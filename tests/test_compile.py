"""Kernels ready before a fit: one signature per kernel and dtype, announced, cache-proof bits."""

import importlib
import io
import logging
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from fastem import BayesianGaussianMixture, GaussianMixture
from fastem._progress import compile_lines
from fastem.backends import available_backends, get_backend
from fastem.backends._boundary import (
    SIGNATURES,
    check_call,
    example_arguments,
    passed_arguments,
)
from fastem.backends._compile import FAMILIES, ROW_DTYPES, CompileLog, families_for

from .conftest import COMPILED_BACKENDS

needs_numba = pytest.mark.skipif(
    available_backends()["numba"] is not None, reason="the Numba backend does not run here"
)


@pytest.mark.parametrize("dtype", ROW_DTYPES)
@pytest.mark.parametrize("kernel", sorted(SIGNATURES))
def test_example_arguments_pass_the_boundary_check(kernel, dtype):
    sizes = check_call(kernel, example_arguments(kernel, dtype))
    assert sizes["n"] == 3 and sizes["D"] == 2


def test_families_cover_every_kernel_once():
    listed = [kernel for kernels in FAMILIES.values() for kernel in kernels]
    assert sorted(listed) == sorted(SIGNATURES)
    assert families_for("tied", kmeans_start=True) == ("full", "kmeans")
    assert families_for("spherical", kmeans_start=False) == ("diag",)


@pytest.mark.parametrize("backend_name", COMPILED_BACKENDS)
@pytest.mark.parametrize(
    ("covariance_type", "init_params", "families"),
    [
        ("tied", "random", ("full",)),
        ("diag", "kmeans", ("diag", "kmeans")),
        ("full", "k-means++", ("full", "kmeans")),
    ],
)
def test_a_fit_prepares_the_kernels_it_needs_first(
    monkeypatch, backend_name, covariance_type, init_params, families
):
    backend = get_backend(backend_name)
    calls = []
    original = type(backend).prepare

    def recording(self, families, dtype):
        calls.append((tuple(families), np.dtype(dtype)))
        # Nothing has run before it: no kernel call, so no compilation, lands in the EM clock.
        assert not hasattr(model, "converged_")
        original(self, families, dtype)

    monkeypatch.setattr(type(backend), "prepare", recording)
    X = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    model = GaussianMixture(
        2,
        covariance_type=covariance_type,
        init_params=init_params,
        backend=backend_name,
        random_state=0,
    )
    model.fit(X)
    assert calls == [(families, np.dtype(np.float32))]


def _expected_signatures():
    import numba

    return {
        kernel: {
            tuple(numba.typeof(value) for value in passed_arguments(kernel, example))
            for example in (example_arguments(kernel, dtype) for dtype in ROW_DTYPES)
        }
        for kernel in SIGNATURES
    }


def _every_kind_of_call(tmp_path):
    """Fits and predictions through every path that reaches the kernels."""
    rng = np.random.default_rng(1)
    for dtype in ROW_DTYPES:
        X = rng.normal(size=(300, 5)).astype(dtype)
        weights = rng.uniform(0.5, 2.0, size=300)
        for covariance_type in ("full", "tied", "diag", "spherical"):
            for init_params in ("kmeans", "k-means++", "random"):
                model = GaussianMixture(
                    3,
                    covariance_type=covariance_type,
                    init_params=init_params,
                    max_iter=5,
                    backend="numba",
                    random_state=0,
                ).fit(X, sample_weight=weights)
                model.predict(X[:7])
                model.score_samples(X[::-1][:9])  # a strided view: copied before the kernels
            model.means_.flags.writeable = False  # a read-only fitted state
            model.predict_proba(X)
        holed = X.copy()
        holed[::4, 1] = np.nan
        GaussianMixture(2, missing="em", max_iter=3, backend="numba").fit(holed)
        path = tmp_path / f"rows-{np.dtype(dtype).name}.npy"
        np.save(path, X)
        GaussianMixture(2, max_iter=3, backend="numba").fit(np.load(path, mmap_mode="r"))
        online = GaussianMixture(2, backend="numba", random_state=0)
        online.partial_fit(X[:100])
        online.partial_fit(X[100:])
        BayesianGaussianMixture(n_components=3, max_iter=5, backend="numba").fit(X)


@needs_numba
def test_every_call_uses_the_signature_compiled_ahead(tmp_path):
    """What the install compiles is all that any call needs: no second specialisation.

    Checked over every overload the process holds, so calls made by earlier tests count too.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short fits do not converge; that is not the point
        _every_kind_of_call(tmp_path)
    expected = _expected_signatures()
    for kernel in SIGNATURES:
        family, name = kernel.split(".")
        dispatcher = getattr(importlib.import_module(f"fastem._kernels.{family}"), name)
        assert dispatcher.overloads, kernel
        unexpected = set(dispatcher.overloads) - expected[kernel]
        assert not unexpected, f"{kernel} was compiled for {unexpected}"


@needs_numba
def test_a_compilation_in_process_is_announced_or_stopped(caplog):
    import numba

    from fastem._kernels import full
    from fastem.backends import _compile

    log = CompileLog()
    rows = numba.typeof(np.empty((2, 2), dtype=np.float32))
    with caplog.at_level(logging.INFO, logger="fastem"):
        log.started(full._log_prob_block, (rows,))  # a helper: its time is its kernel's
        log.started(full.accumulate, (rows,))
        log.ended(full.accumulate, (rows,))
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert len(records) == 2
    assert records[0][0] == logging.WARNING
    assert records[0][1].startswith("compiling fastem's full.accumulate kernel for float32 rows")
    assert records[1][0] == logging.INFO
    assert records[1][1].startswith("compiled fastem's full.accumulate kernel in ")
    _compile._state.load_only = True  # as while prepare() tries the cache
    try:
        log.started(full._log_prob_block, (rows,))  # helpers are never stopped on their own
        with pytest.raises(_compile.MustCompile):
            log.started(full.weighted_log_prob, (rows,))
    finally:
        _compile._state.load_only = False


def test_the_command_line_shows_compilations_only():
    logger = logging.getLogger("fastem")
    stream = io.StringIO()
    with compile_lines(True, stream):
        logger.debug("EM iteration 1", extra={"fastem": {"event": "iteration"}})
        logger.info("Initialization 0")
        logger.warning("compiling X", extra={"fastem": {"event": "compile_start"}})
        logger.info("compiled X in 1.0 s", extra={"fastem": {"event": "compile_end"}})
    assert stream.getvalue().splitlines() == ["fastem: compiling X", "fastem: compiled X in 1.0 s"]


@needs_numba
def test_the_kernels_cache_is_stamped_by_all_their_sources(tmp_path, monkeypatch):
    import numba

    from fastem._kernels import _cache, full

    if numba.config.CACHE_DIR:
        pytest.skip("NUMBA_CACHE_DIR is set: Numba's own locator is in use")
    assert isinstance(full.accumulate._cache._impl._locator, _cache.KernelCacheLocator)
    for path in _cache.PACKAGE.glob("*.py"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(_cache, "PACKAGE", tmp_path)
    _cache.sources_digest.cache_clear()
    try:
        before = _cache.sources_digest()
        with open(tmp_path / "_common.py", "a") as handle:  # a helper, not the kernel's file
            handle.write("\n# changed\n")
        _cache.sources_digest.cache_clear()
        assert _cache.sources_digest() != before
    finally:
        _cache.sources_digest.cache_clear()


_FIT_SCRIPT = """
import numpy as np
from fastem import GaussianMixture
X = np.random.default_rng(3).normal(size=(500, 6))
model = GaussianMixture(4, covariance_type="diag", init_params="random_from_data",
                        random_state=0, backend="numba").fit(X)
print(model.means_.tobytes().hex(), model.covariances_.tobytes().hex(), model.lower_bound_)
"""


@needs_numba
@pytest.mark.slow
def test_a_cold_cache_compiles_announced_and_gives_the_same_bits(tmp_path):
    """A process whose cache lacks the kernels gets the bits of one that loads them.

    (Compiled in-process, the kernels round differently from the same kernels
    loaded from the cache; so they are compiled in a separate process.)
    """
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))

    def run():
        done = subprocess.run(
            [sys.executable, "-c", _FIT_SCRIPT], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr

    cold_out, cold_err = run()
    warm_out, warm_err = run()
    assert "compiling fastem's diag kernels for float64 rows in a separate process" in cold_err
    assert "compiling" not in warm_err
    assert cold_out == warm_out
    namespace = {}
    here = io.StringIO()
    stdout, sys.stdout = sys.stdout, here
    try:
        exec(_FIT_SCRIPT, namespace)
    finally:
        sys.stdout = stdout
    assert here.getvalue() == cold_out  # this process's kernels (the installed cache)
