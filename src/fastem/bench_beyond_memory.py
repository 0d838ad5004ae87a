"""``python -m fastem.bench --beyond-memory``: out-of-core and Dask fits against in-memory ones.

Out of core: a float32 ``.npy`` file of the full-16 reference shape is fitted
through a memory map with a memory budget (scikit-learn's ``working_memory``)
of a quarter of the file, in a fresh process, and compared with the same fit
of the array loaded in memory: time per EM iteration of each (the file is in
the page cache after the first pass) and the peak growth of the process's
*anonymous* resident memory during the out-of-core fit (sampled every 2 ms
from ``/proc/self/status``; file pages of the map are the page cache's, not
the fit's).

Dask: the full-16 float64 shape as a Dask array on a ``LocalCluster`` of 2
worker processes with one thread each, against the in-memory fit on the same
number of threads. Both start from the same parameters; time per iteration
is (t(m iterations) − t(n)) / (m − n), runs interleaved, median reported.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import warnings
from collections.abc import Callable

import numpy as np
from sklearn.exceptions import ConvergenceWarning

REFERENCE = (1_000_000, 16, 16)  # full-16
BUDGET_SHARE = 4  # the file is 4× the memory budget


def anonymous_rss() -> int:
    """This process's resident anonymous memory in bytes (Linux: RssAnon of /proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise OSError("no RssAnon line in /proc/self/status")


def peak_anonymous_growth(
    function: Callable[[], object], interval_s: float = 0.002
) -> tuple[int, object]:
    """(peak growth of anonymous memory while ``function`` runs, its result), sampled."""
    peak, done = [0], threading.Event()
    before = anonymous_rss()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], anonymous_rss())
            time.sleep(interval_s)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        result = function()
    finally:
        done.set()
        watcher.join()
    return max(peak[0], anonymous_rss()) - before, result


_OUT_OF_CORE_SCRIPT = textwrap.dedent("""
    import json, statistics, sys, time, warnings
    import numpy as np
    from sklearn import config_context
    from fastem import GaussianMixture
    from fastem.bench_beyond_memory import peak_anonymous_growth

    warnings.simplefilter("ignore")
    path, init_path, budget_mib, repeats, short, long = sys.argv[1:7]
    repeats, short, long = int(repeats), int(short), int(long)
    init = dict(np.load(init_path))
    k = init["weights_init"].shape[0]
    mapped = np.load(path, mmap_mode="r")

    def fit_seconds(X, max_iter):
        model = GaussianMixture(k, max_iter=max_iter, tol=0.0, **init)
        started = time.perf_counter()
        with config_context(working_memory=float(budget_mib)):
            model.fit(X)
        return time.perf_counter() - started

    fit_seconds(mapped[:5000], 1)  # load the kernels; then the file into the page cache
    fit_seconds(mapped, 1)
    extra, out_of_core = peak_anonymous_growth(lambda: [
        (fit_seconds(mapped, long) - fit_seconds(mapped, short)) / (long - short)
        for _ in range(repeats)])
    in_memory_X = np.array(mapped)
    in_memory = [(fit_seconds(in_memory_X, long) - fit_seconds(in_memory_X, short))
                 / (long - short) for _ in range(repeats)]
    print(json.dumps({"out_of_core_s": statistics.median(out_of_core),
                      "in_memory_s": statistics.median(in_memory),
                      "extra_anonymous_bytes": extra}))
""")


def out_of_core(scale: float = 1.0, repeats: int = 3, short: int = 1, long: int = 3) -> dict:
    """Time per iteration out of core and in memory, and the out-of-core fit's extra memory."""
    from ._bench_cases import Case, initial_parameters
    from .datasets import make_mixture

    n_samples, n_features, n_components = REFERENCE
    n_samples = max(20_000, int(n_samples * scale))
    X, _ = make_mixture(n_samples, n_features, n_components, dtype=np.float32, random_state=0)
    init = initial_parameters(
        X, Case("out-of-core", n_samples, n_features, n_components, "full", np.float32)
    )
    budget_mib = X.nbytes / BUDGET_SHARE / 2**20
    with tempfile.TemporaryDirectory() as folder:
        path, init_path = os.path.join(folder, "X.npy"), os.path.join(folder, "init.npz")
        np.save(path, X)
        np.savez(init_path, **init)
        file_bytes = os.path.getsize(path)
        del X
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                _OUT_OF_CORE_SCRIPT,
                path,
                init_path,
                str(budget_mib),
                str(repeats),
                str(short),
                str(long),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    row = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        **row,
        "n_samples": n_samples,
        "file_bytes": file_bytes,
        "budget_bytes": budget_mib * 2**20,
    }


def dask_cluster(
    scale: float = 1.0, repeats: int = 3, short: int = 1, long: int = 3, n_workers: int = 2
) -> dict:
    """Time per iteration of a Dask fit on a LocalCluster and of the in-memory fit."""
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    from . import GaussianMixture
    from ._bench_cases import Case, initial_parameters
    from .datasets import make_mixture

    n_samples, n_features, n_components = REFERENCE
    n_samples = max(20_000, int(n_samples * scale))
    X, _ = make_mixture(n_samples, n_features, n_components, random_state=0)
    init = initial_parameters(X, Case("dask", n_samples, n_features, n_components, "full"))
    blocks = da.from_array(X, chunks=(-(-n_samples // (8 * n_workers)), n_features))

    def seconds(data, max_iter, **options):
        model = GaussianMixture(n_components, max_iter=max_iter, tol=0.0, **init, **options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            started = time.perf_counter()
            model.fit(data)
            return time.perf_counter() - started

    with (
        LocalCluster(
            n_workers=n_workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        persisted = blocks.persist()
        seconds(persisted, 1)  # workers load their kernels
        seconds(X[:5000], 1, n_jobs=n_workers)
        on_dask, in_memory = [], []
        for _ in range(repeats):
            on_dask.append((seconds(persisted, long) - seconds(persisted, short)) / (long - short))
            in_memory.append(
                (seconds(X, long, n_jobs=n_workers) - seconds(X, short, n_jobs=n_workers))
                / (long - short)
            )
    return {
        "dask_s": statistics.median(on_dask),
        "in_memory_s": statistics.median(in_memory),
        "n_samples": n_samples,
        "n_workers": n_workers,
        "n_blocks": blocks.npartitions,
    }


def report(scale: float = 1.0, repeats: int = 3, short: int = 1, long: int = 3) -> str:
    """The two comparisons as printable lines."""
    n_features, n_components = REFERENCE[1:]
    lines = []
    if sys.platform.startswith("linux"):
        row = out_of_core(scale, repeats, short, long)
        lines.append(
            f"out of core: {row['n_samples']:,}x{n_features} float32, K={n_components} full, "
            f"file {row['file_bytes'] / 2**20:.0f} MiB, budget {row['budget_bytes'] / 2**20:.0f}"
            f" MiB: {row['out_of_core_s']:.4f} s/it vs in memory {row['in_memory_s']:.4f} s/it"
            f" (ratio {row['out_of_core_s'] / row['in_memory_s']:.2f}); extra anonymous memory "
            f"{row['extra_anonymous_bytes'] / 2**20:.1f} MiB "
            f"({row['extra_anonymous_bytes'] / row['budget_bytes']:.2f}x the budget)"
        )
    else:
        lines.append("out of core: skipped (anonymous memory is read from /proc on Linux)")
    try:
        row = dask_cluster(scale, repeats, short, long)
    except ImportError as error:
        lines.append(f"dask: skipped ({error}; pip install 'fastem[dask]')")
    else:
        lines.append(
            f"dask: {row['n_samples']:,}x{n_features} float64, K={n_components} full, "
            f"LocalCluster {row['n_workers']} workers x 1 thread, {row['n_blocks']} blocks: "
            f"{row['dask_s']:.4f} s/it vs in memory on {row['n_workers']} threads "
            f"{row['in_memory_s']:.4f} s/it (ratio {row['dask_s'] / row['in_memory_s']:.2f})"
        )
    return "\n".join(lines)
