"""The variational mixture against scikit-learn's (``python -m fastem.bench --bayesian``).

For each reference case both libraries' ``BayesianGaussianMixture`` start
from the same initial responsibilities (one 'random_from_data' draw with the
same seed: scikit-learn's draw, which fastem reproduces), run with ``tol=0``,
and the time of one iteration is (t(max_iter=m) − t(max_iter=n)) / (m − n),
which cancels the set-up (the priors' pass over the data, the start, the final
E-step). Runs are interleaved and medians reported. Extra peak memory is the
growth of a fresh process's peak resident memory during two iterations
(continued with ``warm_start`` after the start) beyond X, as a multiple of
the size of X. The start itself is left out: scikit-learn's
'random_from_data' draw, which fastem reproduces, permutes all row numbers
(8 bytes a row).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

from ._bench_cases import CASES, Case, compiled_backends, prepared_case, time_per_iteration
from .bench import PEAK_HELPERS

# The start both libraries share: scikit-learn's 'random_from_data' draw with one seed.
START = {"init_params": "random_from_data", "random_state": 0}


def _per_iteration(estimator_class, X, case, short, long, options=None) -> float:
    return time_per_iteration(estimator_class, X, case, START, short, long, 1, options)[0]


_MEMORY_SCRIPT = PEAK_HELPERS + textwrap.dedent("""
    import json, sys, warnings
    import numpy as np

    warnings.simplefilter("ignore")
    library, data_path, covariance_type, k = sys.argv[1:5]
    if library == "sklearn":
        from sklearn.mixture import BayesianGaussianMixture as Estimator
        options = {}
    else:
        from fastem import BayesianGaussianMixture as Estimator
        options = {"backend": library}
    X = np.load(data_path)
    params = dict(n_components=int(k), covariance_type=covariance_type,
                  init_params="random_from_data", random_state=0, tol=0, **options)
    model = Estimator(max_iter=1, warm_start=True, **params).fit(X)  # the start, then
    before = reset_peak()
    model.set_params(max_iter=2).fit(X)  # two more iterations, continued
    print(json.dumps({"extra_bytes": (peak() - before) * 1024}))
""")


def extra_peak_memory(library: str, X, case: Case) -> float:
    """Peak memory a variational fit adds beyond X, in a fresh process, / size of X."""
    with tempfile.TemporaryDirectory() as folder:
        data_path = os.path.join(folder, "X.npy")
        np.save(data_path, X)
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                _MEMORY_SCRIPT,
                library,
                data_path,
                case.covariance_type,
                str(case.n_components),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    extra = json.loads(result.stdout.strip().splitlines()[-1])["extra_bytes"]
    return max(extra, 0) / X.nbytes


def bayesian_rows(
    cases=CASES,
    *,
    scale: float = 1.0,
    repeats: int = 3,
    short: int = 1,
    long: int = 3,
    memory: bool = True,
    backends: list[str] | None = None,
) -> list[dict]:
    """One row per case and fastem backend: s/iteration of both libraries, ratio, memory."""
    from sklearn.mixture import BayesianGaussianMixture as SklearnBayesianGaussianMixture

    from . import BayesianGaussianMixture

    backends = backends or compiled_backends()
    rows = []
    for case in cases:
        case, X, _ = prepared_case(case, 0, scale)
        for backend in backends:  # compile / load the kernels outside the timings
            _per_iteration(BayesianGaussianMixture, X[:2000], case, 1, 2, {"backend": backend})
        ours = {backend: [] for backend in backends}
        theirs = []
        for _ in range(repeats):
            for backend in backends:
                ours[backend].append(
                    _per_iteration(
                        BayesianGaussianMixture, X, case, short, long, {"backend": backend}
                    )
                )
            theirs.append(_per_iteration(SklearnBayesianGaussianMixture, X, case, short, long))
        sklearn_median = statistics.median(theirs)
        sklearn_mem = extra_peak_memory("sklearn", X, case) if memory else float("nan")
        for backend in backends:
            median = statistics.median(ours[backend])
            rows.append(
                {
                    "case": case.name,
                    "shape": f"{case.n_samples:.0e}x{case.n_features}, K={case.n_components}",
                    "covariance": case.covariance_type,
                    "dtype": np.dtype(case.dtype).name,
                    "backend": backend,
                    "fastem_s": median,
                    "sklearn_s": sklearn_median,
                    "speedup": sklearn_median / median,
                    "fastem_mem": (extra_peak_memory(backend, X, case) if memory else float("nan")),
                    "sklearn_mem": sklearn_mem,
                }
            )
    return rows


def report(scale: float = 1.0, repeats: int = 3, short: int = 1, long: int = 3, **kwargs) -> str:
    """The table ``python -m fastem.bench --bayesian`` prints."""
    lines = [
        f"BayesianGaussianMixture, fastem vs scikit-learn: time per iteration (median of "
        f"{repeats}, interleaved, same start); memory: extra peak during fit / size of X",
        f"{'case':<12} {'shape':<18} {'cov':<5} {'dtype':<8} {'backend':>7} "
        f"{'fastem s/it':>12} {'sklearn s/it':>12} {'speedup':>8} {'fastem mem':>10} "
        f"{'sklearn mem':>11}",
    ]
    for row in bayesian_rows(scale=scale, repeats=repeats, short=short, long=long, **kwargs):
        lines.append(
            f"{row['case']:<12} {row['shape']:<18} {row['covariance']:<5} {row['dtype']:<8} "
            f"{row['backend']:>7} {row['fastem_s']:>12.4f} {row['sklearn_s']:>12.4f} "
            f"{row['speedup']:>7.1f}x {row['fastem_mem']:>9.2f}x {row['sklearn_mem']:>10.2f}x"
        )
    return "\n".join(lines)
