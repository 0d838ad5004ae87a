"""The ``fastem`` command line: ``fastem demo`` and ``fastem bench``."""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

DEMO_SHAPE = {"n_samples": 1_000_000, "n_features": 2, "n_components": 6}


def _demo(args: argparse.Namespace) -> int:
    from sklearn.exceptions import ConvergenceWarning

    from . import GaussianMixture, __version__
    from .backends import get_backend
    from .datasets import make_mixture

    backend = get_backend("auto")

    X, _ = make_mixture(args.n_samples, DEMO_SHAPE["n_features"], DEMO_SHAPE["n_components"],
                        random_state=args.seed)
    print(f"fastem {__version__}: fitting a {DEMO_SHAPE['n_components']}-component full-"
          f"covariance mixture to {X.shape[0]:,} points in {X.shape[1]} dimensions "
          f"({backend.name} backend, {backend.threads.get_num_threads()} threads)"
          if hasattr(backend, "threads") else f"({backend.name} backend)")
    started = time.perf_counter()
    with warnings.catch_warnings():  # compile (first run) or load (cached) the kernels
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(DEMO_SHAPE["n_components"], max_iter=1).fit(X[:2000])
    print(f"kernels ready in {time.perf_counter() - started:.2f} s (compiled on a first run, "
          "then loaded from the cache)")
    model = GaussianMixture(DEMO_SHAPE["n_components"], covariance_type="full", max_iter=0,
                            tol=args.tol, random_state=args.seed, warm_start=True)
    started = time.perf_counter()
    model.fit(X)  # max_iter=0: initialisation only (k-means), so it is timed on its own
    init_seconds = time.perf_counter() - started
    model.set_params(max_iter=args.max_iter)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    em_seconds = time.perf_counter() - started

    print(f"initialisation (k-means): {init_seconds:.2f} s")
    print(f"\n{'iteration':>9}  {'log-likelihood / point':>22}  {'change':>10}")
    previous = None
    for n_iter, lower_bound in enumerate(model.lower_bounds_, start=1):
        change = "" if previous is None else f"{lower_bound - previous:10.2e}"
        print(f"{n_iter:>9}  {lower_bound:>22.8f}  {change:>10}")
        previous = lower_bound
    per_iteration = em_seconds / max(model.n_iter_, 1)
    status = "converged" if model.converged_ else "stopped at max_iter"
    print(f"\n{status} after {model.n_iter_} iterations: {em_seconds:.2f} s, "
          f"{per_iteration * 1e3:.1f} ms per iteration")
    print(f"\n{'component':>9}  {'weight':>7}  {'mean':>22}  covariance")
    for k in np.argsort(model.means_[:, 0]):
        mean = ", ".join(f"{v:8.3f}" for v in model.means_[k])
        cov = model.covariances_[k]
        print(f"{k:>9}  {model.weights_[k]:7.4f}  [{mean}]  [[{cov[0, 0]:.3f}, {cov[0, 1]:.3f}],"
              f" [{cov[1, 0]:.3f}, {cov[1, 1]:.3f}]]")
    print(f"\nBIC: {model.bic(X):.1f}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main(args.bench_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastem", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fit the built-in example and print the model")
    demo.add_argument("--n-samples", type=int, default=DEMO_SHAPE["n_samples"])
    demo.add_argument("--max-iter", type=int, default=100)
    demo.add_argument("--tol", type=float, default=1e-6)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_demo)
    bench = commands.add_parser("bench",
                                help="compare fastem and scikit-learn (python -m fastem.bench)")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    bench.set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
