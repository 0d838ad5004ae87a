"""``python -m fastem.bench``: fastem against scikit-learn, side by side, in one process.

For each reference case both libraries start from the same initial parameters
(weights, means and precisions of one 'random_from_data' draw), run with
``tol=0`` and a fixed number of iterations, and the time of one EM iteration is
(t(max_iter=m) − t(max_iter=n)) / (m − n), which cancels set-up and the final
E-step. Runs of the two libraries are interleaved and the median is reported,
with fastem's GFLOP/s (full covariance: ≈ 2·N·K·D·(D+1) flops an iteration)
and its share of the machine's peak, measured as BLAS matrix-multiply speed on
the same threads. Each compiled backend that runs here (numba, cython) gets
its own row, its runs interleaved with the others'. Extra peak memory is the
growth of the peak resident memory of a fresh process during ``fit`` beyond
the data it already holds, as a multiple of the size of X. Last, the time a
fresh process takes to import fastem and fit 1,000 points, per backend (warm
Numba cache: what a user pays on every new process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
from threadpoolctl import threadpool_limits

from ._bench_cases import (
    CASES,
    Case,
    compiled_backends,
    prepared_case,
    time_per_iteration,
)


def run_case(
    case: Case,
    *,
    repeats: int,
    short: int,
    long: int,
    seed: int = 0,
    scale: float = 1.0,
    memory: bool = True,
    peaks: dict | None = None,
    backends: list[str] | None = None,
    threads: int | None = None,
) -> list[dict]:
    """One row per fastem backend, each against the same scikit-learn median."""
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

    from . import GaussianMixture

    backends = backends or compiled_backends()
    case, X, init = prepared_case(case, seed, scale, backends)
    fastem_times = {backend: [] for backend in backends}
    sklearn_times = []
    for _ in range(repeats):  # interleaved, so all see the same machine state
        for backend in backends:
            fastem_times[backend] += time_per_iteration(
                GaussianMixture,
                X,
                case,
                init,
                short,
                long,
                1,
                {"backend": backend, "n_jobs": threads},
            )
        sklearn_times += time_per_iteration(SklearnGaussianMixture, X, case, init, short, long, 1)
    sklearn_median = statistics.median(sklearn_times)
    peak = (peaks or {}).get(np.dtype(case.dtype).name, float("nan"))
    sklearn_mem = extra_peak_memory("sklearn", X, init, case.covariance_type) if memory else None
    rows = []
    for backend in backends:
        fastem_median = statistics.median(fastem_times[backend])
        gflops = case.flops_per_iteration() / fastem_median / 1e9
        row = {
            "case": case.name,
            "shape": f"{case.n_samples:.0e}x{case.n_features}, K={case.n_components}",
            "covariance": case.covariance_type,
            "dtype": np.dtype(case.dtype).name,
            "backend": backend,
            "fastem_s": fastem_median,
            "sklearn_s": sklearn_median,
            "speedup": sklearn_median / fastem_median,
            "gflops": gflops,
            "peak_percent": 100.0 * gflops / peak,
        }
        if memory:
            row["fastem_mem"] = extra_peak_memory(backend, X, init, case.covariance_type)
            row["sklearn_mem"] = sklearn_mem
        rows.append(row)
    return rows


def thread_scaling(
    case: Case,
    thread_counts: list[int],
    *,
    repeats: int,
    short: int,
    long: int,
    seed: int = 0,
    scale: float = 1.0,
) -> list[dict]:
    """fastem's time per iteration at each thread count, and the speed-up over the first."""
    from . import GaussianMixture

    backend = compiled_backends()[0]
    case, X, init = prepared_case(case, seed, scale, [backend])
    times = {threads: [] for threads in thread_counts}
    for _ in range(repeats):  # thread counts interleaved, as the libraries are above
        for threads in thread_counts:
            times[threads] += time_per_iteration(
                GaussianMixture,
                X,
                case,
                init,
                short,
                long,
                1,
                {"backend": backend, "n_jobs": threads},
            )
    medians = {threads: statistics.median(values) for threads, values in times.items()}
    first = medians[thread_counts[0]]
    return [
        {
            "case": case.name,
            "threads": threads,
            "seconds": medians[threads],
            "speedup": first / medians[threads],
        }
        for threads in thread_counts
    ]


# Functions of the fresh processes that measure peak memory (Linux's /proc, else getrusage).
PEAK_HELPERS = textwrap.dedent("""
    import resource

    def status_kib(field):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])

    def reset_peak():
        # Linux: writing 5 to clear_refs resets the peak resident size (VmHWM)
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
            return status_kib("VmRSS")
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def peak():
        try:
            return status_kib("VmHWM")
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
""")

_MEMORY_SCRIPT = PEAK_HELPERS + textwrap.dedent("""
    import json, sys, warnings
    import numpy as np

    warnings.simplefilter("ignore")
    library, data_path, init_path, covariance_type = sys.argv[1:5]
    if library == "sklearn":
        from sklearn.mixture import GaussianMixture
    else:  # a fastem backend
        import functools
        import fastem
        GaussianMixture = functools.partial(fastem.GaussianMixture, backend=library)
    X = np.load(data_path)
    init = dict(np.load(init_path))
    k = init["weights_init"].shape[0]
    GaussianMixture(k, covariance_type=covariance_type, max_iter=1, **init).fit(X[:2000])
    before = reset_peak()
    GaussianMixture(k, covariance_type=covariance_type, max_iter=2, tol=0, **init).fit(X)
    after = peak()
    print(json.dumps({"extra_bytes": (after - before) * 1024}))
""")


def extra_peak_memory(library: str, X, init: dict, covariance_type: str) -> float:
    """Peak memory a fit adds beyond X, in a fresh process, as a multiple of X's size.

    library: 'sklearn', or the name of a fastem backend.
    """
    with tempfile.TemporaryDirectory() as folder:
        data_path = os.path.join(folder, "X.npy")
        init_path = os.path.join(folder, "init.npz")
        np.save(data_path, X)
        np.savez(init_path, **init)
        result = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, library, data_path, init_path, covariance_type],
            capture_output=True,
            text=True,
            check=True,
        )
    extra = json.loads(result.stdout.strip().splitlines()[-1])["extra_bytes"]
    return max(extra, 0) / X.nbytes


_FIRST_FIT_SCRIPT = (
    "import numpy as np; from fastem import GaussianMixture; "
    "GaussianMixture(3, random_state=0, backend={backend!r}).fit("
    "np.random.default_rng(0).normal(size=(1000, 4)))"
)


def first_fit_seconds(backend: str, repeats: int = 3) -> float:
    """Median wall time of a fresh process that imports fastem and fits 1,000 points.

    One unmeasured run first fills Numba's on-disk cache (a warm cache: what
    every new process pays, not the one-time compilation).
    """
    return fresh_process_seconds(_FIRST_FIT_SCRIPT.format(backend=backend), repeats)


def import_floors(backends: list[str]) -> dict[str, str]:
    """What a fresh process pays before fastem does anything: the dependencies' imports.

    One script per floor, named by what it imports: numpy and scikit-learn for
    every backend, numba as well where the numba backend is measured (its own
    set-up on first use, the typing context, is not included).
    """
    floors = {"numpy + scikit-learn": "import numpy, sklearn.base"}
    if "numba" in backends:
        floors["numpy + scikit-learn + numba"] = "import numpy, sklearn.base, numba"
    return floors


def fresh_process_seconds(script: str, repeats: int = 3) -> float:
    """Median wall time of a fresh Python process that runs ``script``."""
    command = [sys.executable, "-c", script]
    subprocess.run(command, check=True)  # unmeasured: warms caches (Numba's, the OS's)
    return statistics.median(
        _seconds(lambda: subprocess.run(command, check=True)) for _ in range(repeats)
    )


def matmul_peak_gflops(dtype=np.float64, size: int = 3000, repeats: int = 3) -> float:
    """The machine's practical peak: BLAS matrix-multiply speed on the current threads."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2.0 * size**3 / best / 1e9


def _seconds(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def format_table(rows: list[dict]) -> str:
    header = (
        f"{'case':<12} {'shape':<18} {'cov':<5} {'dtype':<8} {'backend':<7} "
        f"{'fastem s/it':>11} "
        f"{'sklearn s/it':>12} {'speedup':>8} {'GFLOP/s':>8} {'% peak':>7} "
        f"{'fastem mem':>10} {'sklearn mem':>11}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        memory = (
            f"{row['fastem_mem']:>9.2f}x {row['sklearn_mem']:>10.2f}x"
            if "fastem_mem" in row
            else f"{'-':>10} {'-':>11}"
        )
        lines.append(
            f"{row['case']:<12} {row['shape']:<18} {row['covariance']:<5} {row['dtype']:<8} "
            f"{row['backend']:<7} {row['fastem_s']:>11.4f} {row['sklearn_s']:>12.4f} "
            f"{row['speedup']:>7.1f}x "
            f"{row['gflops']:>8.1f} {row['peak_percent']:>6.1f}% {memory}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fastem.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=[c.name for c in CASES],
        help="run only this case (repeatable); default: all",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one repeat of 2 vs 1 iterations: a fast, rougher figure",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every case's number of rows (e.g. 0.01 for a smoke test)",
    )
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the peak-memory measurements (each is a fresh process)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for both libraries (default: all available cores)",
    )
    parser.add_argument(
        "--backend",
        action="append",
        choices=["numba", "cython", "numpy"],
        help="time this fastem backend (repeatable); default: every "
        "compiled backend that runs here",
    )
    parser.add_argument(
        "--scaling",
        metavar="T1,T2,...",
        help="instead: fastem alone at these thread counts (e.g. 1,2,4,8)",
    )
    parser.add_argument(
        "--models",
        action="store_true",
        help="instead: time per EM iteration of each of the 14 covariance "
        "models at N=1e6, D=16, K=16, and the M-step's share "
        "(fastem.bench_models)",
    )
    parser.add_argument(
        "--bayesian",
        action="store_true",
        help="instead: BayesianGaussianMixture against scikit-learn's on the "
        "reference cases (fastem.bench_bayesian)",
    )
    parser.add_argument(
        "--to-convergence",
        action="store_true",
        help="instead: wall time from fit() to a converged model with default "
        "settings, for fastem (plain and accelerate=True) and scikit-learn, with "
        "passes and final log-likelihoods (fastem.bench_convergence)",
    )
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="instead: the first fit of a fresh process per covariance type and dtype, "
        "with the installed Numba cache and with an empty one (fastem.bench_cold_start; "
        "about a minute per case on 2 cores; --quick: the installed cache only)",
    )
    parser.add_argument(
        "--missing",
        action="store_true",
        help="instead: EM with 10%% of the entries missing against complete data "
        "(default case full-16), and the recovery table (fastem.bench_missing)",
    )
    parser.add_argument(
        "--beyond-memory",
        action="store_true",
        help="instead: out-of-core and Dask fits against in-memory ones "
        "(fastem.bench_beyond_memory)",
    )
    args = parser.parse_args(argv)
    from ._threads import available_cores

    backends = args.backend or compiled_backends()
    cases = [c for c in CASES if args.case is None or c.name in args.case]
    repeats, short, long = (1, 1, 2) if args.quick else (args.repeats, 1, 3)
    if args.models:
        from .bench_models import report as models_report

        print(models_report(args.scale, repeats, short, long), flush=True)
        return 0
    if args.bayesian:
        from .bench_bayesian import report as bayesian_report

        print(
            bayesian_report(
                args.scale,
                repeats,
                short,
                long,
                cases=cases,
                memory=not args.no_memory,
                backends=backends,
            ),
            flush=True,
        )
        return 0
    if args.to_convergence:
        from .bench_convergence import report as convergence_report

        backend = backends[0] if backends else None
        print(convergence_report(args.scale, repeats, cases, backend), flush=True)
        return 0
    if args.cold_start:
        from .bench_cold_start import report as cold_start_report

        print(cold_start_report(repeats=args.repeats, empty_cache=not args.quick), flush=True)
        return 0
    if args.missing:
        from .bench_missing import report as missing_report

        names = args.case or ["full-16"]
        print(missing_report(args.scale, repeats, short, long, names, backends), flush=True)
        return 0
    if args.beyond_memory:
        from .bench_beyond_memory import report

        print(report(args.scale, repeats, short, long), flush=True)
        return 0
    if args.scaling:
        thread_counts = [int(value) for value in args.scaling.split(",")]
        if max(thread_counts) > available_cores():  # kernels never run on more threads
            print(
                f"note: {available_cores()} cores here; counts above it run on "
                f"{available_cores()} threads"
            )
        print(
            f"fastem time per EM iteration by thread count (median of {repeats}); "
            f"speed-up over {thread_counts[0]} thread(s)"
        )
        print(f"{'case':<12} {'threads':>7} {'s/it':>8} {'speedup':>8}")
        for case in cases:
            with threadpool_limits(limits=1):
                for row in thread_scaling(
                    case, thread_counts, repeats=repeats, short=short, long=long, scale=args.scale
                ):
                    print(
                        f"{row['case']:<12} {row['threads']:>7} {row['seconds']:>8.4f} "
                        f"{row['speedup']:>7.2f}x",
                        flush=True,
                    )
        return 0
    threads = args.threads or available_cores()
    rows = []
    with threadpool_limits(limits=threads):
        peaks = {name: matmul_peak_gflops(np.dtype(name)) for name in ("float64", "float32")}
        print(
            f"fastem vs scikit-learn, time per EM iteration (median of {repeats}, "
            f"{threads} threads, interleaved); machine peak (BLAS matmul, {threads} "
            f"threads): {peaks['float64']:.0f} GFLOP/s float64, {peaks['float32']:.0f} "
            "float32; memory: extra peak during fit / size of X"
        )
        for case in cases:
            case_rows = run_case(
                case,
                repeats=repeats,
                short=short,
                long=long,
                scale=args.scale,
                memory=not args.no_memory,
                peaks=peaks,
                backends=backends,
                threads=threads,
            )
            table = format_table(case_rows).splitlines()
            print("\n".join(table if not rows else table[2:]), flush=True)
            rows += case_rows
        if len(backends) > 1:
            print(_ratios(rows, backends))
        print(
            "fresh process, import + first fit of 1,000 points (warm Numba cache): "
            + ", ".join(f"{backend} {first_fit_seconds(backend):.2f} s" for backend in backends),
            flush=True,
        )
        print(
            "of which the dependencies' imports alone (fresh process): "
            + ", ".join(
                f"{name} {fresh_process_seconds(script):.2f} s"
                for name, script in import_floors(backends).items()
            ),
            flush=True,
        )
    return 0


def _ratios(rows: list[dict], backends: list[str]) -> str:
    """Each backend's time per iteration relative to the first's, case by case."""
    first = backends[0]
    seconds = {(row["case"], row["backend"]): row["fastem_s"] for row in rows}
    parts = [
        f"{case}: "
        + ", ".join(
            f"{other}/{first} {seconds[case, other] / seconds[case, first]:.2f}"
            for other in backends[1:]
        )
        for case in dict.fromkeys(row["case"] for row in rows)
    ]
    return "time per iteration relative to " + first + ": " + "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
