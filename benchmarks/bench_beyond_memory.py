"""Beyond memory: a memory-mapped float32 file 4x the memory budget, and a Dask LocalCluster."""

import os
import shutil
import sys
import tempfile

import numpy as np

from .common import SHAPES, dataset, initial_parameters, quiet, set_threads

BUDGET_SHARE = 4  # the file is 4x the memory budget


class OutOfCore:
    """One EM iteration over a memory-mapped .npy file (full-16, float32), and its memory."""

    timeout = 900

    def setup(self):
        from sklearn import config_context

        from fastem import GaussianMixture

        if not sys.platform.startswith("linux"):
            raise NotImplementedError("anonymous memory is read from /proc on Linux")
        set_threads()
        quiet()
        X = dataset("full-16", "float32")
        self.folder = tempfile.mkdtemp()
        path = os.path.join(self.folder, "X.npy")
        np.save(path, X)
        self.mapped = np.load(path, mmap_mode="r")
        self.budget_mib = X.nbytes / BUDGET_SHARE / 2**20
        self.config = lambda: config_context(working_memory=self.budget_mib)
        init = initial_parameters(X, SHAPES["full-16"][2], "full")
        self.model = GaussianMixture(
            SHAPES["full-16"][2], tol=0.0, max_iter=1, warm_start=True, **init
        )
        with self.config():
            self.model.fit(self.mapped)  # kernels loaded, file in the page cache

    def teardown(self):
        shutil.rmtree(self.folder, ignore_errors=True)

    def time_em_iteration(self):
        with self.config():
            self.model.fit(self.mapped)

    def track_extra_anonymous_memory_per_budget(self):
        from fastem.bench_beyond_memory import peak_anonymous_growth

        with self.config():
            extra, _ = peak_anonymous_growth(lambda: self.model.fit(self.mapped))
        return extra / (self.budget_mib * 2**20)

    track_extra_anonymous_memory_per_budget.unit = "budget"


class DaskLocalCluster:
    """One EM iteration of full-16 (float64) as a Dask array on 2 local worker processes."""

    timeout = 900

    def setup(self):
        try:
            import dask.array as da
            from dask.distributed import Client, LocalCluster
        except ImportError as error:
            raise NotImplementedError(f"dask is not installed: {error}") from None
        from fastem import GaussianMixture

        set_threads()
        quiet()
        X = dataset("full-16")
        self.cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        )
        self.client = Client(self.cluster)
        self.X = da.from_array(X, chunks=(-(-X.shape[0] // 16), X.shape[1])).persist()
        init = initial_parameters(X, SHAPES["full-16"][2], "full")
        self.model = GaussianMixture(
            SHAPES["full-16"][2], tol=0.0, max_iter=1, warm_start=True, **init
        ).fit(self.X)

    def teardown(self):
        self.client.close()
        self.cluster.close()

    def time_em_iteration(self):
        self.model.fit(self.X)
