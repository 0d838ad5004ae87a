"""Time per EM iteration as N and K grow: both should scale linearly."""

import numpy as np

from .common import SCALE, initial_parameters, quiet, require_backend, set_threads


def _warm_model(n_samples, n_components):
    """Data of n_samples × 16 and a fastem model that adds one iteration per fit()."""
    from fastem import GaussianMixture
    from fastem.datasets import make_mixture

    set_threads()
    quiet()
    X, _ = make_mixture(max(2000, int(n_samples * SCALE)), 16, 16, random_state=0)
    init = initial_parameters(X, n_components, "full")
    model = GaussianMixture(n_components, tol=0.0, max_iter=1, warm_start=True, **init)
    return X, model.fit(X)


class ScalingSamples:
    params = ([100_000, 1_000_000, 10_000_000],)
    param_names = ["n_samples"]
    timeout = 1200

    def setup(self, n_samples):
        self.X, self.model = _warm_model(n_samples, 16)

    def time_em_iteration(self, n_samples):
        self.model.fit(self.X)


class ScalingComponents:
    params = ([4, 16, 64],)
    param_names = ["n_components"]
    timeout = 1200

    def setup(self, n_components):
        self.X, self.model = _warm_model(1_000_000, n_components)

    def time_em_iteration(self, n_components):
        self.model.fit(self.X)


def _first_fit_seconds(backend, cache_dir=None):
    """Wall time of a fresh process importing fastem and fitting 1,000 points."""
    import os
    import subprocess
    import sys
    import time

    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    script = (
        "import numpy as np; from fastem import GaussianMixture; "
        f"GaussianMixture(3, random_state=0, backend={backend!r}).fit("
        "np.random.default_rng(0).normal(size=(1000, 4)))"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    return time.perf_counter() - started


class FirstFit:
    """Fresh process: import + first fit, with a cold and with a warm Numba cache.

    The Cython kernels are compiled at install time: their cold and warm times
    should be alike, and free of any JIT cost.
    """

    params = (["numba", "cython"],)
    param_names = ["backend"]
    timeout = 600
    number = 1
    repeat = 1

    def setup(self, backend):
        require_backend(backend)

    def track_cold_cache_seconds(self, backend):
        import tempfile

        with tempfile.TemporaryDirectory() as cache_dir:
            return _first_fit_seconds(backend, cache_dir)

    track_cold_cache_seconds.unit = "seconds"

    def track_warm_cache_seconds(self, backend):
        _first_fit_seconds(backend)  # fill the cache
        return float(np.median([_first_fit_seconds(backend) for _ in range(3)]))

    track_warm_cache_seconds.unit = "seconds"

    def track_dependency_imports_seconds(self, backend):
        """The floor under the warm first fit: a fresh process importing only the dependencies.

        The warm first fit minus this is fastem's own share (its import, kernel loading, fit).
        """
        import subprocess
        import sys
        import time

        script = "import numpy, sklearn.base" + (", numba" if backend == "numba" else "")
        command = [sys.executable, "-c", script]
        subprocess.run(command, check=True)
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(command, check=True)
            seconds.append(time.perf_counter() - started)
        return float(np.median(seconds))

    track_dependency_imports_seconds.unit = "seconds"
