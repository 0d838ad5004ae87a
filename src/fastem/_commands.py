"""What each ``fastem`` command does (the parser is in :mod:`fastem.cli`)."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._io import Selection, Table, column_names, read_table, write_array
from ._progress import progress_bar
from ._validation import NonFiniteError

DEMO_SHAPE = {"n_samples": 1_000_000, "n_features": 2, "n_components": 6}
ACTIVE_WEIGHT = 0.01  # a variational component with a smaller expected weight is reported inactive


class CommandError(ValueError):
    """A mistake in how a command was called (the message says which)."""


def _show_progress(args: argparse.Namespace) -> bool:
    if args.progress is not None:
        return args.progress
    return sys.stderr.isatty()


MISSING_HINT = (
    "add --missing em to fit them as missing values, or --missing drop to leave out those rows"
)


def _refs(text: str | None) -> tuple[str, ...] | None:
    """'a,b,3' as column references."""
    if text is None:
        return None
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _selection(args: argparse.Namespace, missing: str | None = None, columns=None) -> Selection:
    """The columns and rows a command reads, from its options."""
    return Selection(
        columns=_refs(args.columns) if columns is None else columns,
        drop=_refs(args.drop) or (),
        label=args.label,
        weights=getattr(args, "weights", None),
        missing=args.missing if missing is None else missing,
        skip_text=args.skip_text,
        dtype=getattr(args, "dtype", None),
    )


def _read(path: str, selection: Selection) -> Table:
    """The table, its notes said on stderr."""
    table = read_table(path, selection)
    for note in table.notes:
        print(f"note: {note}", file=sys.stderr)
    return table


@contextlib.contextmanager
def _missing_cells_named(path: str, fitting: bool):
    """A NaN the estimator refuses, said in the command line's terms (numbered from 1)."""
    try:
        yield
    except NonFiniteError as error:
        if not error.n_nan:
            raise
        row, column, _ = error.first
        where = (
            f"{error.n_nan} missing value(s) (NaN), the first in row {row + 1}, column {column + 1}"
        )
        remedy = (
            MISSING_HINT
            if fitting
            else "the model was fitted without --missing em: fit it again with --missing em "
            "to score rows with missing cells (fastem impute fills them with either model)"
        )
        raise CommandError(f"{path}: {where}; {remedy}") from None


def _load_model(path: str):
    from ._persistence import load

    if not os.path.exists(path):
        raise CommandError(f"{path}: no such model file")
    try:
        return load(path)
    except ValueError as error:  # load's own message names the file and the problem
        raise CommandError(str(error)) from None
    except (OSError, KeyError, EOFError) as error:
        raise CommandError(f"{path}: not a fastem model file ({error})") from None


def _model_columns(model, path: str, args: argparse.Namespace):
    """The columns of DATA a model is applied to: its own, by name, when both name them."""
    names = getattr(model, "feature_names_in_", None)
    if names is None or args.columns is not None:
        return None
    names = [str(name) for name in names]
    in_file = column_names(path)
    if in_file is None:
        if os.path.splitext(path)[1].lower() in (".npy", ".npz"):  # arrays never name them
            return None
        print(
            f"note: {path} names no columns: its columns are taken in order as the model's "
            f"{', '.join(names)}",
            file=sys.stderr,
        )
        return None
    lacking = [name for name in names if name not in in_file]
    if lacking:
        raise CommandError(
            f"{path}: the model was fitted on the columns {', '.join(names)}; the data lacks "
            f"{', '.join(map(repr, lacking))} (its columns are {', '.join(in_file)})"
        )
    ignored = [name for name in in_file if name not in names]
    if ignored:
        print(f"note: columns not in the model, not used: {', '.join(ignored)}", file=sys.stderr)
    return tuple(names)


def _check_features(model, table: Table, path: str) -> None:
    """Refuse data whose columns differ from the model's, saying exactly how."""
    n_columns = table.X.shape[1]
    names = getattr(model, "feature_names_in_", None)
    if names is not None and table.columns is not None:
        names = [str(name) for name in names]
        if list(table.columns) != names:
            missing = [name for name in names if name not in table.columns]
            extra = [name for name in table.columns if name not in names]
            parts = []
            if missing:
                parts.append(f"lacks the model's {', '.join(map(repr, missing))}")
            if extra:
                parts.append(f"has {', '.join(map(repr, extra))}, which the model has not")
            if not parts:
                parts.append(f"has them in another order ({', '.join(table.columns)})")
            raise CommandError(
                f"{path}: the model was fitted on the columns {', '.join(names)}; the data "
                f"{' and '.join(parts)}"
            )
    if n_columns != model.n_features_in_:
        raise CommandError(
            f"{path} has {n_columns} columns but the model was fitted on {model.n_features_in_}"
        )


def _estimator(args: argparse.Namespace, n_components: int):
    from . import BayesianGaussianMixture, GaussianMixture

    prior = getattr(args, "bayesian", None)
    if prior is None:
        if getattr(args, "concentration", None) is not None:
            raise CommandError("--concentration is a prior of --bayesian; add --bayesian")
        return GaussianMixture(
            n_components,
            covariance_type=args.covariance,
            missing=_estimator_missing(args),
            accelerate=getattr(args, "accelerate", False),
            **_fit_options(args),
        )
    for option, given in (
        ("--missing em", args.missing == "em"),
        ("--accelerate", args.accelerate),
    ):
        if given:
            raise CommandError(f"{option} fits the maximum-likelihood mixture; drop --bayesian")
    if args.covariance not in BayesianGaussianMixture._covariance_types:
        raise CommandError(
            f"--bayesian fits {', '.join(BayesianGaussianMixture._covariance_types)} "
            f"covariances, not {args.covariance}"
        )
    return BayesianGaussianMixture(
        n_components=n_components,
        covariance_type=args.covariance,
        weight_concentration_prior_type=prior,
        weight_concentration_prior=args.concentration,
        **_fit_options(args),
    )


def _estimator_missing(args: argparse.Namespace) -> str:
    """The estimator's ``missing``: 'em', or 'error' (rows with one were dropped on reading)."""
    return "em" if args.missing == "em" else "error"


def _fit_options(args: argparse.Namespace) -> dict:
    """The options of `fit` and `select` that every mixture they fit takes."""
    return {
        "verbose": min(args.verbose, 2),
        "tol": args.tol,
        "max_iter": args.max_iter,
        "n_init": args.n_init,
        "random_state": args.seed,
        "backend": args.backend,
        "n_jobs": args.threads,
    }


def check_output_path(path: str | None) -> None:
    """Refuse, before any work, an output path that cannot be written as a file."""
    if path is None:
        return
    if os.path.isdir(path):
        raise CommandError(f"-o {path}: is a directory; name a file inside it")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CommandError(f"-o {path}: the folder {parent} does not exist")


def _fit_timed(model, X, weights, show_progress: bool):
    """Fit; return the seconds taken and whether a ConvergenceWarning was raised."""
    with warnings.catch_warnings(record=True) as caught, progress_bar(show_progress):
        warnings.simplefilter("always", ConvergenceWarning)
        started = time.perf_counter()
        model.fit(X, sample_weight=weights)
        seconds = time.perf_counter() - started
    for warning in caught:  # anything but the convergence note is shown as usual
        if not issubclass(warning.category, ConvergenceWarning):
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return seconds


ROWS_PER_PASS = 1 << 16  # rows scored at once by the summaries: memory bounded for any file


def _weighted_total_log_likelihood(model, X, weights) -> tuple[float, float]:
    """(Σ w log p(x), Σ w): the weighted log-likelihood of the rows and their weight."""
    total = weight = 0.0
    for start in range(0, X.shape[0], ROWS_PER_PASS):
        rows = slice(start, start + ROWS_PER_PASS)
        log_prob = model.score_samples(X[rows]).astype(np.float64)
        if weights is None:
            total += float(log_prob.sum())
            weight += log_prob.shape[0]
        else:
            row_weights = np.asarray(weights[rows], dtype=np.float64)
            total += float(row_weights @ log_prob)
            weight += float(row_weights.sum())
    return total, weight


def _criteria(model, X, weights) -> dict:
    total, n_effective = _weighted_total_log_likelihood(model, X, weights)
    n_parameters = model._n_parameters()
    return {
        "log_likelihood": total / n_effective,
        "bic": -2.0 * total + n_parameters * math.log(n_effective),
        "aic": -2.0 * total + 2.0 * n_parameters,
    }


def _is_variational(model) -> bool:
    """Whether the model is the variational mixture (active components, no BIC)."""
    from . import BayesianGaussianMixture

    return isinstance(model, BayesianGaussianMixture)


def _summary(model, X, weights, seconds: float) -> str:
    per_iteration = seconds / max(model.n_iter_, 1)
    status = "converged" if model.converged_ else "did not converge (raise --max-iter?)"
    n_features = model.means_.shape[1]
    bayesian = _is_variational(model)
    kind = "variational Bayesian " if bayesian else ""
    lines = [
        f"{model.n_components}-component {kind}{model.covariance_type} mixture of "
        f"{X.shape[0]:,} rows x {n_features} features ({X.dtype}), {model.backend_} backend",
        f"{status} after {model.n_iter_} iterations in {seconds:.2f} s "
        f"({per_iteration * 1e3:.1f} ms per iteration, initialisation included)",
    ]
    if bayesian:
        active = model.weights_ >= ACTIVE_WEIGHT
        lines += [
            f"lower bound {model.lower_bound_:.6g}   {int(active.sum())} of "
            f"{model.n_components} components active (weight >= {ACTIVE_WEIGHT})",
        ]
    else:
        criteria = _criteria(model, X, weights)
        lines.append(
            f"log-likelihood per row {criteria['log_likelihood']:.6f}   "
            f"BIC {criteria['bic']:.1f}   AIC {criteria['aic']:.1f}"
        )
    lines += ["", f"{'component':>9}  {'weight':>7}  mean"]
    shown = min(n_features, 6)
    for k in np.argsort(-model.weights_):
        if bayesian and model.weights_[k] < ACTIVE_WEIGHT:
            continue
        mean = ", ".join(f"{v:.4g}" for v in model.means_[k, :shown])
        more = ", ..." if n_features > shown else ""
        lines.append(f"{k:>9}  {model.weights_[k]:7.4f}  [{mean}{more}]")
    if bayesian and not np.all(model.weights_ >= ACTIVE_WEIGHT):
        inactive = np.flatnonzero(model.weights_ < ACTIVE_WEIGHT)
        lines.append(
            f"{'':>9}  (inactive: {', '.join(map(str, inactive))}; their weights sum to "
            f"{model.weights_[inactive].sum():.2g})"
        )
    return "\n".join(lines)


# --- commands -------------------------------------------------------------------


def _model_and_data(args: argparse.Namespace, missing: str | None = None):
    """The saved model and the table it is applied to (the model's columns, checked)."""
    model = _load_model(args.model)
    if missing is None:
        missing = args.missing or ("em" if getattr(model, "missing", "error") == "em" else "error")
    table = _read(args.data, _selection(args, missing, _model_columns(model, args.data, args)))
    _check_features(model, table, args.data)
    return model, table


def _check_model_output(path: str | None) -> None:
    check_output_path(path)
    if path is not None and not path.lower().endswith(".npz"):
        raise CommandError(f"-o {path}: a model is saved as a .npz file; name it {path}.npz?")


def _name_features(model, table: Table) -> None:
    """Give the fitted model the table's column names (kept in the saved file)."""
    if table.columns is not None:
        model.feature_names_in_ = np.asarray(table.columns, dtype=object)


def fit(args: argparse.Namespace) -> int:
    _check_model_output(args.output)
    table = _read(args.data, _selection(args))
    model = _estimator(args, args.components)
    with _missing_cells_named(args.data, fitting=True):
        seconds = _fit_timed(model, table.X, table.weights, _show_progress(args))
    _name_features(model, table)
    print(_summary(model, table.X, table.weights, seconds))
    if table.labels is not None:
        print(_label_comparison(model, table))
    model.save(args.output)
    print(f"\nmodel saved to {args.output}")
    return 0


def _label_comparison(model, table: Table) -> str:
    """How the components match the label column: adjusted Rand index and a contingency table."""
    from sklearn.metrics import adjusted_rand_score
    from sklearn.metrics.cluster import contingency_matrix

    known = np.array([label is not None for label in table.labels])
    labels = table.labels[known].astype(str)
    components = np.concatenate(
        [
            model.predict(table.X[start : start + ROWS_PER_PASS])
            for start in range(0, table.X.shape[0], ROWS_PER_PASS)
        ]
    )[known]
    ari = adjusted_rand_score(labels, components)
    classes = np.unique(labels)
    counts = contingency_matrix(labels, components)
    used = np.unique(components)
    width = max(9, *(len(c) for c in classes))
    lines = [
        "",
        f"against the label column {table.label_name!r} ({int(known.sum()):,} rows with a "
        f"label): adjusted Rand index {ari:.4f}",
        f"{table.label_name[:width]:>{width}}  " + "  ".join(f"{k:>7}" for k in used),
    ]
    for name, row in zip(classes, counts, strict=True):
        lines.append(f"{name:>{width}}  " + "  ".join(f"{count:>7,}" for count in row))
    lines[-len(classes) - 1] += "   (rows: labels; columns: components)"
    return "\n".join(lines)


def predict(args: argparse.Namespace) -> int:
    check_output_path(args.output)
    model, table = _model_and_data(args)
    X = table.X
    with _missing_cells_named(args.data, fitting=False):
        result = model.predict_proba(X) if args.proba else model.predict(X)
    if args.output:
        write_array(args.output, result)
        what = "probabilities" if args.proba else "labels"
        print(f"{what} of {X.shape[0]:,} rows saved to {args.output}", file=sys.stderr)
    else:
        fmt = "%.6g" if args.proba else "%d"
        np.savetxt(sys.stdout, result, fmt=fmt, delimiter=",")
    return 0


def score(args: argparse.Namespace) -> int:
    model, table = _model_and_data(args)
    with _missing_cells_named(args.data, fitting=False):
        return _print_score(model, table.X)


def _print_score(model, X) -> int:
    if _is_variational(model):  # no maximum-likelihood parameter count, no BIC
        print(
            f"rows {X.shape[0]:,}\nexpected log-density per row {model.score(X):.8f} "
            "(variational: E_q[log p(x)], as scikit-learn's score)"
        )
        return 0
    criteria = _criteria(model, X, None)
    print(
        f"rows {X.shape[0]:,}\nlog-likelihood per row {criteria['log_likelihood']:.8f}\n"
        f"BIC {criteria['bic']:.2f}\nAIC {criteria['aic']:.2f}"
    )
    return 0


def impute(args: argparse.Namespace) -> int:
    check_output_path(args.output)
    model, table = _model_and_data(args, missing="em")
    if _is_variational(model):
        raise CommandError(f"{args.model}: impute needs a GaussianMixture model (fastem fit)")
    n_missing = 0
    for start in range(0, table.X.shape[0], ROWS_PER_PASS):  # in chunks: X may be a map
        n_missing += int(np.count_nonzero(np.isnan(table.X[start : start + ROWS_PER_PASS])))
    if args.draws is None:
        result = model.impute(table.X)
        what = "conditional expectations"
    else:
        if not args.output.lower().endswith(".npy"):
            raise CommandError(f"-o {args.output}: --draws writes an (M, rows, columns) .npy file")
        result = model.sample_imputations(table.X, args.draws, random_state=args.seed)
        what = f"{args.draws} random draws"
    write_array(args.output, result, table.columns)
    print(
        f"{n_missing:,} missing cell(s) of {table.X.shape[0]:,} rows filled with their {what}; "
        f"saved to {args.output}"
    )
    return 0


def select(args: argparse.Namespace) -> int:
    _check_model_output(args.output)
    table = _read(args.data, _selection(args))
    X, weights = table.X, table.weights
    if max(args.components) > X.shape[0]:
        raise CommandError(
            f"K = {max(args.components)} is more than the {X.shape[0]} rows of {args.data}"
        )
    if args.models is not None:
        return _select_models(args, table)
    if args.criterion == "icl":
        raise CommandError("--criterion icl needs --models (one or more covariance models)")
    show_progress = _show_progress(args)
    rows, models = [], {}
    print(
        f"{'K':>4}  {'log-lik/row':>12}  {'BIC':>14}  {'AIC':>14}  {'iter':>5}  "
        f"{'converged':>9}  {'seconds':>8}",
        flush=True,
    )
    for k in args.components:  # data read once; kernels compiled once for every K
        model = _estimator(args, k)
        with _missing_cells_named(args.data, fitting=True):
            seconds = _fit_timed(model, X, weights, show_progress)
        row = {
            "k": k,
            **_criteria(model, X, weights),
            "n_iter": model.n_iter_,
            "converged": model.converged_,
            "seconds": seconds,
        }
        rows.append(row)
        models[k] = model
        print(
            f"{k:>4}  {row['log_likelihood']:>12.6f}  {row['bic']:>14.2f}  "
            f"{row['aic']:>14.2f}  {row['n_iter']:>5}  {str(row['converged']):>9}  "
            f"{seconds:>8.2f}",
            flush=True,
        )
    best = min(rows, key=lambda row: row[args.criterion])
    print(f"\nbest by {args.criterion.upper()}: K = {best['k']}")
    if args.plot:
        from ._plot import plot_selection

        plot_selection(rows, args.criterion, args.plot)
        print(f"criteria plotted to {args.plot}")
    if args.output:
        _name_features(models[best["k"]], table)
        models[best["k"]].save(args.output)
        print(f"model with K = {best['k']} saved to {args.output}")
    return 0


def _select_models(args: argparse.Namespace, table: Table) -> int:
    """select over covariance models × K: mclust's table of the criterion, and the best."""
    from .selection import GaussianMixtureSelection

    search = GaussianMixtureSelection(
        args.components,
        covariance_types=args.models,
        criterion=args.criterion,
        missing=_estimator_missing(args),
        **_fit_options(args),
    )
    started = time.perf_counter()
    X = table.X
    with progress_bar(_show_progress(args)), _missing_cells_named(args.data, fitting=True):
        search.fit(X, sample_weight=table.weights)
    print(search.table())
    best = search.best_params_
    print(
        f"\nbest by {args.criterion.upper()}: {best['covariance_type']} with "
        f"K = {best['n_components']} ({time.perf_counter() - started:.1f} s for "
        f"{len(search.results_['bic'])} fits; — : failed or a component below "
        f"{X.shape[1] + 1} points)"
    )
    if args.plot:
        from ._plot import plot_model_selection

        plot_model_selection(search, args.plot)
        print(f"criteria plotted to {args.plot}")
    if args.output:
        _name_features(search.best_estimator_, table)
        search.best_estimator_.save(args.output)
        print(f"model saved to {args.output}")
    return 0


def plot(args: argparse.Namespace) -> int:
    check_output_path(args.output)
    from ._plot import plot_mixture

    model, table = _model_and_data(args)
    X = table.X
    if np.isnan(X).any():  # a point needs every coordinate
        X = model.impute(X)
        print(f"missing cells of {args.data} drawn at their conditional expectations")
    dims = _dims(args.dims, model) if args.dims else ((0, 1) if X.shape[1] == 2 else "pca")
    plot_mixture(model, X, args.output, dims=dims, max_points=args.max_points)
    print(f"picture saved to {args.output}")
    return 0


def _dims(text: str, model):
    """--dims: 'pca', or two features by name or number (from 1), as 0-based indices."""
    if text == "pca":
        return "pca"
    parts = [part.strip() for part in text.split(",")]
    names = [str(name) for name in getattr(model, "feature_names_in_", [])]
    n_features = model.n_features_in_
    if len(parts) != 2:
        raise CommandError(
            f"--dims {text!r}: expected 'pca' or two features 'I,J' (names or numbers)"
        )
    indices = []
    for part in parts:
        if part in names:
            indices.append(names.index(part))
        elif part.isdigit() and 1 <= int(part) <= n_features:
            indices.append(int(part) - 1)
        else:
            known = (
                f"its features are {', '.join(names)}"
                if names
                else (f"its features are numbered 1 to {n_features}")
            )
            raise CommandError(f"--dims: feature {part!r} does not exist in the model; {known}")
    return tuple(indices)


def info(args: argparse.Namespace) -> int:
    from ._info import describe

    print(describe())
    return 0


def bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main(args.bench_args)


def demo(args: argparse.Namespace) -> int:
    from . import GaussianMixture, __version__
    from .backends import get_backend
    from .datasets import make_mixture

    backend = get_backend("auto")
    n_components = DEMO_SHAPE["n_components"]
    X, _ = make_mixture(
        args.n_samples, DEMO_SHAPE["n_features"], n_components, random_state=args.seed
    )
    n_threads = backend.threads.get_num_threads() if hasattr(backend, "threads") else None
    threads = "" if n_threads is None else f", {n_threads} thread{'' if n_threads == 1 else 's'}"
    print(
        f"fastem {__version__}: fitting a {n_components}-component full-covariance mixture "
        f"to {X.shape[0]:,} points in {X.shape[1]} dimensions ({backend.name} backend"
        f"{threads})"
    )
    started = time.perf_counter()
    with warnings.catch_warnings():  # load the kernels (compiled when missing from the cache)
        warnings.simplefilter("ignore", ConvergenceWarning)
        GaussianMixture(n_components, max_iter=1).fit(X[:2000])
    print(
        f"kernels ready in {time.perf_counter() - started:.2f} s (loaded from Numba's cache, "
        "filled when fastem was installed; compiled where missing)"
    )
    model = GaussianMixture(
        n_components,
        covariance_type="full",
        max_iter=0,
        tol=args.tol,
        random_state=args.seed,
        warm_start=True,
    )
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
    print(
        f"\n{status} after {model.n_iter_} iterations: {em_seconds:.2f} s, "
        f"{per_iteration * 1e3:.1f} ms per iteration"
    )
    print(f"\n{'component':>9}  {'weight':>7}  {'mean':>22}  covariance")
    for k in np.argsort(model.means_[:, 0]):
        mean = ", ".join(f"{v:8.3f}" for v in model.means_[k])
        cov = model.covariances_[k]
        print(
            f"{k:>9}  {model.weights_[k]:7.4f}  [{mean}]  [[{cov[0, 0]:.3f}, {cov[0, 1]:.3f}],"
            f" [{cov[1, 0]:.3f}, {cov[1, 1]:.3f}]]"
        )
    print(f"\nBIC: {model.bic(X):.1f}")
    if args.plot:
        _demo_picture(model, X, args.plot)
    return 0


def _demo_picture(model, X, path: str) -> None:
    from ._plot import PLOT_INSTALL_HINT, plot_mixture

    try:
        plot_mixture(model, X, path)
    except ImportError:
        print(f"\n(no picture: {PLOT_INSTALL_HINT})")
        return
    print(f"\npicture of the fit: {path}")
