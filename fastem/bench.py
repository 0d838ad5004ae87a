"""``python -m fastem.bench``: fastem against scikit-learn, side by side, in one process.

For each reference case both libraries start from the same initial parameters
(weights, means and precisions of one 'random_from_data' draw), run with
``tol=0`` and a fixed number of iterations, and the time of one EM iteration is
(t(max_iter=m) − t(max_iter=n)) / (m − n), which cancels set-up and the final
E-step. Runs of the two libraries are interleaved and the median is reported,
with fastem's GFLOP/s (full covariance: ≈ 2·N·K·D·(D+1) flops an iteration).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, replace

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits


@dataclass(frozen=True)
class Case:
    name: str
    n_samples: int
    n_features: int
    n_components: int
    covariance_type: str
    dtype: type = np.float64

    def flops_per_iteration(self) -> float:
        n, d, k = self.n_samples, self.n_features, self.n_components
        if self.covariance_type in ("full", "tied"):
            return 2.0 * n * k * d * (d + 1)
        return 6.0 * n * k * d


CASES = (
    Case("full-16", 1_000_000, 16, 16, "full"),
    Case("full-16-f32", 1_000_000, 16, 16, "full", np.float32),
    Case("diag-16", 1_000_000, 16, 16, "diag"),
    Case("lowdim", 1_000_000, 2, 5, "full"),
    Case("wide", 200_000, 50, 10, "full"),
)


def initial_parameters(X, case: Case, seed: int = 0) -> dict:
    """weights_init, means_init and precisions_init of one 'random_from_data' draw."""
    from . import GaussianMixture

    start = GaussianMixture(case.n_components, covariance_type=case.covariance_type,
                            init_params="random_from_data", max_iter=0, random_state=seed)
    start.fit(X[: min(X.shape[0], 100_000)])
    # Data-sized initial covariances (the draw itself gives reg_covar·I).
    start.set_params(max_iter=1, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(X[: min(X.shape[0], 100_000)])
    return {"weights_init": start.weights_, "means_init": start.means_,
            "precisions_init": start.precisions_}


def _fit_seconds(estimator_class, X, case: Case, init: dict, max_iter: int) -> float:
    model = estimator_class(case.n_components, covariance_type=case.covariance_type, tol=0.0,
                            max_iter=max_iter, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        started = time.perf_counter()
        model.fit(X)
        return time.perf_counter() - started


def time_per_iteration(estimator_class, X, case, init, short, long, repeats) -> list[float]:
    return [
        (_fit_seconds(estimator_class, X, case, init, long)
         - _fit_seconds(estimator_class, X, case, init, short)) / (long - short)
        for _ in range(repeats)
    ]


def run_case(case: Case, *, repeats: int, short: int, long: int, seed: int = 0,
             scale: float = 1.0) -> dict:
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

    from . import GaussianMixture
    from .datasets import make_mixture

    case = replace(case, n_samples=max(1000, int(case.n_samples * scale)))
    X, _ = make_mixture(case.n_samples, case.n_features, case.n_components,
                        dtype=case.dtype, random_state=seed)
    init = initial_parameters(X, case, seed)
    _fit_seconds(GaussianMixture, X[:2000], case, init, 1)  # compile / load the kernels
    fastem_times, sklearn_times = [], []
    for _ in range(repeats):  # interleaved, so both see the same machine state
        fastem_times += time_per_iteration(GaussianMixture, X, case, init, short, long, 1)
        sklearn_times += time_per_iteration(SklearnGaussianMixture, X, case, init, short, long, 1)
    fastem_median = statistics.median(fastem_times)
    sklearn_median = statistics.median(sklearn_times)
    return {
        "case": case.name,
        "shape": f"{case.n_samples:.0e}x{case.n_features}, K={case.n_components}",
        "covariance": case.covariance_type,
        "dtype": np.dtype(case.dtype).name,
        "fastem_s": fastem_median,
        "sklearn_s": sklearn_median,
        "speedup": sklearn_median / fastem_median,
        "gflops": case.flops_per_iteration() / fastem_median / 1e9,
    }


def format_table(rows: list[dict]) -> str:
    header = (f"{'case':<12} {'shape':<18} {'cov':<5} {'dtype':<8} {'fastem s/it':>11} "
              f"{'sklearn s/it':>12} {'speedup':>8} {'GFLOP/s':>8}")
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['case']:<12} {row['shape']:<18} {row['covariance']:<5} {row['dtype']:<8} "
            f"{row['fastem_s']:>11.4f} {row['sklearn_s']:>12.4f} {row['speedup']:>7.1f}x "
            f"{row['gflops']:>8.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastem.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", choices=[c.name for c in CASES],
                        help="run only this case (repeatable); default: all")
    parser.add_argument("--quick", action="store_true",
                        help="one repeat of 2 vs 1 iterations: a fast, rougher figure")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every case's number of rows (e.g. 0.01 for a smoke test)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both libraries (default: all cores)")
    args = parser.parse_args(argv)
    import numba

    if args.threads is not None:
        numba.set_num_threads(args.threads)
    threads = numba.get_num_threads()
    cases = [c for c in CASES if args.case is None or c.name in args.case]
    repeats, short, long = (1, 1, 2) if args.quick else (args.repeats, 1, 3)
    print(f"fastem vs scikit-learn, time per EM iteration (median of {repeats}, "
          f"{threads} threads, interleaved)")
    rows = []
    with threadpool_limits(limits=threads):
        for case in cases:
            rows.append(run_case(case, repeats=repeats, short=short, long=long,
                                 scale=args.scale))
            print(format_table(rows[-1:]).splitlines()[-1] if len(rows) > 1
                  else format_table(rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
