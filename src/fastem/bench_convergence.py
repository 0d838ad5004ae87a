"""The whole wait: ``fit()`` to a converged model (``python -m fastem.bench --to-convergence``).

For each reference case (scaled by ``--scale``), in one run: the wall time of
``fit(X)`` with default settings (k-means start, ``tol=1e-3``,
``max_iter=100``), initialisation and final E-step included, for fastem's
plain EM, fastem with ``accelerate=True`` and scikit-learn; with the passes
over the data (``n_iter_``), whether the fit converged, the mean
log-likelihood it reached (``score(X)``, the same measure for all three), and
fastem's start alone (``max_iter=0``). Medians of ``--repeats`` runs, the
libraries interleaved; the kernels are compiled before the timings.
"""

from __future__ import annotations

import statistics
import time
import warnings

from ._bench_cases import CASES, Case, compiled_backends, prepared_case


def _timed_fit(estimator_class, X, case, options) -> tuple[float, object]:
    from sklearn.exceptions import ConvergenceWarning

    model = estimator_class(
        n_components=case.n_components, covariance_type=case.covariance_type, **options
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        started = time.perf_counter()
        model.fit(X)
        return time.perf_counter() - started, model


def _extra_cases(scale: float):
    """(Case, X) of an overlapping mixture and of scikit-learn's bundled data sets."""
    from sklearn import datasets

    from .datasets import make_mixture

    n_samples = max(1000, int(200_000 * scale))
    overlapping, _ = make_mixture(n_samples, 8, 8, separation=1.5, random_state=1)
    yield Case("overlapping", n_samples, 8, 8, "full"), overlapping
    for name, loader, k in (
        ("iris", datasets.load_iris, 3),
        ("wine", datasets.load_wine, 3),
        ("breast-cancer", datasets.load_breast_cancer, 2),
    ):
        X = loader().data
        yield Case(name, X.shape[0], X.shape[1], k, "full"), X


def convergence_rows(
    cases=CASES, *, scale: float = 1.0, repeats: int = 1, backend: str | None = None
) -> list[dict]:
    """One row per case and contender: seconds to convergence, passes, final log-likelihood.

    The reference ``cases`` (well separated: EM needs few passes), then an
    overlapping mixture (200,000 × 8, K = 8, scaled) and scikit-learn's iris,
    wine and breast cancer data.
    """
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

    from . import GaussianMixture

    backend = backend or (compiled_backends() or ["numpy"])[0]
    contenders = {
        "fastem": (GaussianMixture, {"backend": backend, "random_state": 0}),
        "fastem accelerated": (
            GaussianMixture,
            {"backend": backend, "random_state": 0, "accelerate": True},
        ),
        "scikit-learn": (SklearnGaussianMixture, {"random_state": 0}),
    }
    rows = []
    prepared = [prepared_case(case, 0, scale, [backend])[:2] for case in cases]
    for case, X in [*prepared, *_extra_cases(scale)]:
        seconds = {name: [] for name in contenders}
        start_seconds = []
        models = {}
        for _ in range(repeats):
            start_seconds.append(
                _timed_fit(GaussianMixture, X, case, {**contenders["fastem"][1], "max_iter": 0})[0]
            )
            for name, (estimator_class, options) in contenders.items():
                elapsed, models[name] = _timed_fit(estimator_class, X, case, options)
                seconds[name].append(elapsed)
        for name, model in models.items():
            rows.append(
                {
                    "case": case.name,
                    "shape": f"{case.n_samples:.3g}x{case.n_features}, K={case.n_components}",
                    "covariance": case.covariance_type,
                    "contender": name,
                    "seconds": statistics.median(seconds[name]),
                    "start_seconds": statistics.median(start_seconds)
                    if name.startswith("fastem")
                    else None,
                    "passes": int(model.n_iter_),
                    "converged": bool(model.converged_),
                    "log_likelihood": float(model.score(X)),
                }
            )
    return rows


def report(scale: float = 1.0, repeats: int = 1, cases=CASES, backend: str | None = None) -> str:
    """The table ``python -m fastem.bench --to-convergence`` prints."""
    lines = [
        f"Time from fit() to a converged model, default settings (median of {repeats}, "
        "interleaved); start = fastem's initialisation alone (max_iter=0)",
        f"{'case':<12} {'shape':<18} {'contender':<19} {'seconds':>8} {'start s':>8} "
        f"{'passes':>6} {'converged':>9} {'log-lik/row':>12}",
    ]
    for row in convergence_rows(cases, scale=scale, repeats=repeats, backend=backend):
        start = "" if row["start_seconds"] is None else f"{row['start_seconds']:.3f}"
        lines.append(
            f"{row['case']:<12} {row['shape']:<18} {row['contender']:<19} "
            f"{row['seconds']:>8.3f} {start:>8} {row['passes']:>6} "
            f"{str(row['converged']):>9} {row['log_likelihood']:>12.6f}"
        )
    return "\n".join(lines)
