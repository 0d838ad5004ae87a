"""EM with missing values: its cost per iteration, and what it recovers (``--missing``).

Time: one EM iteration of ``GaussianMixture(missing='em')`` on a reference case
(default full-16) with 10% of the entries missing, against the same case
complete, from the same start; timed as (t(max_iter=m) − t(max_iter=n)) /
(m − n), interleaved, medians. Two ways of losing 10%: entries removed
independently at random (random patterns: with D = 16 most rows are
incomplete and thousands of patterns occur), and a few patterns (each
incomplete row misses one of four fixed blocks of a quarter of the columns).

Recovery: a seeded 4-D, 2-component mixture with 10%, 30% and 50% of its
entries removed completely at random, fitted by EM on the incomplete data, by
dropping the incomplete rows, and after filling each hole with its column's
mean; the table gives each fit's distance from the fit of the complete data
(the largest move of a mean, the largest change of a covariance entry), and the
RMSE of :meth:`~fastem.GaussianMixture.impute` against column means.
"""

from __future__ import annotations

import statistics
import warnings

import numpy as np

from ._bench_cases import CASES, compiled_backends, prepared_case, time_per_iteration

FRACTION = 0.1  # of the entries, for the timings
FEW_PATTERNS = 4


def with_random_holes(X, fraction: float, seed: int = 0) -> np.ndarray:
    """A copy of X with each entry NaN with probability ``fraction``."""
    holed = np.array(X)
    holed[np.random.default_rng(seed).random(X.shape) < fraction] = np.nan
    return holed


def with_few_patterns(X, fraction: float, seed: int = 0) -> np.ndarray:
    """A copy of X whose incomplete rows miss one of FEW_PATTERNS blocks of columns.

    Each block is a quarter of the columns (one column each when there are
    fewer than four), and enough rows
    lose one that about ``fraction`` of all entries are missing.
    """
    holed = np.array(X)
    n_samples, n_features = X.shape
    blocks = np.array_split(np.arange(n_features), min(FEW_PATTERNS, n_features))
    rng = np.random.default_rng(seed)
    share = min(1.0, fraction * n_features / len(blocks[0]))
    chosen = rng.random(n_samples) < share
    which = rng.integers(0, len(blocks), size=n_samples)
    for p, columns in enumerate(blocks):
        holed[np.ix_(chosen & (which == p), columns)] = np.nan
    return holed


def timing_rows(
    case_names=("full-16",),
    *,
    scale: float = 1.0,
    repeats: int = 3,
    short: int = 1,
    long: int = 3,
    backends: list[str] | None = None,
) -> list[dict]:
    """s/iteration of complete data and of the two 10%-missing variants, per backend."""
    from . import GaussianMixture

    backends = backends or compiled_backends()
    rows = []
    for case in (c for c in CASES if c.name in case_names):
        case, X, init = prepared_case(case, 0, scale, backends)
        variants = {
            "complete": X,
            "random": with_random_holes(X, FRACTION),
            "few": with_few_patterns(X, FRACTION),
        }
        for backend in backends:
            options = {"backend": backend, "missing": "em"}
            times = {name: [] for name in variants}
            for _ in range(repeats):
                for name, data in variants.items():
                    times[name] += time_per_iteration(
                        GaussianMixture, data, case, init, short, long, 1, options
                    )
            complete = statistics.median(times["complete"])
            for name, data in variants.items():
                median = statistics.median(times[name])
                incomplete = np.isnan(data).any(axis=1)
                rows.append(
                    {
                        "case": case.name,
                        "backend": backend,
                        "data": name,
                        "missing": float(np.isnan(data).mean()),
                        "incomplete_rows": float(incomplete.mean()),
                        "patterns": len(np.unique(np.isnan(data[incomplete]), axis=0)),
                        "seconds": median,
                        "ratio": median / complete,
                    }
                )
    return rows


def _distance(model, reference) -> tuple[float, float]:
    order = [int(np.argmin(np.linalg.norm(model.means_ - m, axis=1))) for m in reference.means_]
    return (
        float(np.max(np.linalg.norm(model.means_[order] - reference.means_, axis=1))),
        float(np.max(np.abs(model.covariances_[order] - reference.covariances_))),
    )


def recovery_rows(sizes=(2000, 20000), fractions=(0.1, 0.3, 0.5)) -> list[dict]:
    """Distances from the complete-data fit of EM, dropped rows and mean imputation."""
    from sklearn.exceptions import ConvergenceWarning

    from . import GaussianMixture
    from .datasets import make_mixture

    rows = []
    kwargs = dict(random_state=0, n_init=2, tol=1e-6)
    for n_samples in sizes:
        X, _ = make_mixture(n_samples, 4, 2, separation=5.0, random_state=2)
        complete = GaussianMixture(2, **kwargs).fit(X)
        for fraction in fractions:
            holed = with_random_holes(X, fraction, seed=4)
            missing = np.isnan(holed)
            column_means = np.nanmean(holed, axis=0)
            kept = holed[~missing.any(axis=1)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                em = GaussianMixture(2, missing="em", **kwargs).fit(holed)
                dropped = GaussianMixture(2, **kwargs).fit(kept) if kept.shape[0] >= 20 else None
                filled = GaussianMixture(2, **kwargs).fit(np.where(missing, column_means, holed))
            truth = X[missing]
            rows.append(
                {
                    "n_samples": n_samples,
                    "fraction": fraction,
                    "complete_rows": int(kept.shape[0]),
                    "em": _distance(em, complete),
                    "dropped": None if dropped is None else _distance(dropped, complete),
                    "mean_filled": _distance(filled, complete),
                    "impute_rmse": float(
                        np.sqrt(np.mean((em.impute(holed)[missing] - truth) ** 2))
                    ),
                    "mean_rmse": float(
                        np.sqrt(np.mean((column_means[np.nonzero(missing)[1]] - truth) ** 2))
                    ),
                }
            )
    return rows


def report(
    scale: float = 1.0,
    repeats: int = 3,
    short: int = 1,
    long: int = 3,
    case_names=("full-16",),
    backends: list[str] | None = None,
) -> str:
    """The tables ``python -m fastem.bench --missing`` prints."""
    lines = [
        f"GaussianMixture(missing='em'), time per iteration (median of {repeats}, interleaved, "
        f"same start) with {FRACTION:.0%} of the entries missing, against complete data",
        f"{'case':<10} {'backend':<7} {'data':<9} {'missing':>7} {'inc. rows':>9} "
        f"{'patterns':>8} {'s/it':>8} {'ratio':>6}",
    ]
    for row in timing_rows(
        case_names, scale=scale, repeats=repeats, short=short, long=long, backends=backends
    ):
        lines.append(
            f"{row['case']:<10} {row['backend']:<7} {row['data']:<9} {row['missing']:>7.1%} "
            f"{row['incomplete_rows']:>9.1%} {row['patterns']:>8} {row['seconds']:>8.4f} "
            f"{row['ratio']:>5.2f}x"
        )
    lines += [
        "",
        "Recovery: distance from the complete-data fit (largest mean move / largest "
        "covariance entry change), 4-D, 2 components, entries missing completely at random",
        f"{'N':>6} {'missing':>7} {'complete rows':>13} {'EM':>15} {'drop rows':>15} "
        f"{'mean-filled':>15} {'impute RMSE':>11} {'mean RMSE':>9}",
    ]

    def pair(value):
        return "—" if value is None else f"{value[0]:.3f} / {value[1]:.3f}"

    for row in recovery_rows():
        lines.append(
            f"{row['n_samples']:>6} {row['fraction']:>7.0%} {row['complete_rows']:>13} "
            f"{pair(row['em']):>15} {pair(row['dropped']):>15} {pair(row['mean_filled']):>15} "
            f"{row['impute_rmse']:>11.3f} {row['mean_rmse']:>9.3f}"
        )
    return "\n".join(lines)
