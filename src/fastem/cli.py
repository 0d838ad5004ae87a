"""The ``fastem`` command line (also ``python -m fastem``).

Commands: ``fit``, ``predict``, ``score``, ``select``, ``impute``, ``plot``,
``demo``, ``info`` and ``bench``; ``fastem COMMAND --help`` describes each. A mistake
(a missing file, a bad format, a non-numeric column, a bad K) is one line on
stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import _commands
from ._io import DataFileError
from .covariance import COVARIANCE_TYPES

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse, with usage mistakes reported as one line (and a pointer to --help)."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


MAX_COMPONENT_COUNTS = 1000  # values of K that one `select` may try


def _components_range(text: str) -> list[int]:
    """'1..20', '2,4,8' or '5' as a list of component counts."""
    try:
        if ".." in text:
            first, last = (int(part) for part in text.split(".."))
            if last - first >= MAX_COMPONENT_COUNTS:
                raise argparse.ArgumentTypeError(
                    f"{text!r} asks for {last - first + 1:,} component counts; at most "
                    f"{MAX_COMPONENT_COUNTS} in one run"
                )
            values = list(range(first, last + 1))
        else:
            values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K, K1..K2 or K1,K2,...; got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"component counts must be >= 1; got {text!r}")
    return values


def _models(text: str) -> list[str]:
    """'all' or 'EII,VVV,...' as a list of covariance model names."""
    from .covariance import MODELS, get_model

    names = list(MODELS) if text == "all" else [name.strip() for name in text.split(",")]
    try:
        for name in names:
            get_model(name)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return names


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {value}")
    return value


def _dims(text: str):
    if text == "pca":
        return "pca"
    try:
        first, second = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'pca' or two feature numbers 'I,J'; got {text!r}"
        ) from None
    return first, second


def _add_fit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "data",
        help="data file: .npy, .npz, .csv/.tsv (a header is detected) or .parquet (needs pyarrow)",
    )
    parser.add_argument(
        "--covariance",
        default="full",
        choices=COVARIANCE_TYPES,
        metavar="MODEL",
        help="covariance model: scikit-learn's full, tied, diag, spherical or "
        "one of mclust's 14 (EII, VII, ..., VVV); default full",
    )
    parser.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default=None,
        help="fit in this precision (default: float32 data stays float32)",
    )
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--n-init", type=_positive_int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="random seed of the initialisation")
    parser.add_argument(
        "--threads", type=int, default=None, help="kernel threads (default: every core)"
    )
    parser.add_argument("--backend", default="auto", choices=["auto", "numba", "cython", "numpy"])
    parser.add_argument(
        "--weights",
        metavar="COLUMN_OR_FILE",
        help="row weights: a column of DATA (name or 0-based number, then "
        "not fitted) or a file with one weight per row",
    )
    parser.add_argument(
        "--missing",
        choices=["error", "em"],
        default="error",
        help="what a missing cell (NA, ?, an empty field, NaN) is: an error (the default) "
        "or, with 'em', a value missing at random that EM fits around (GaussianMixture's "
        "missing='em'; the saved model then also scores and imputes such rows)",
    )
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="show a progress bar (default: when stderr is a terminal)",
    )
    progress.add_argument("--no-progress", dest="progress", action="store_false")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="fastem",
        description="Gaussian mixture models fitted by EM, fast.",
        epilog="fastem COMMAND --help describes a command.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more (to stderr): -v fit steps, -vv every iteration",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = commands.add_parser(
        "fit",
        help="fit a mixture to a data file and save it",
        description="Fit a Gaussian mixture to DATA, print a summary "
        "and save the model to MODEL.npz.",
    )
    _add_fit_options(fit)
    fit.add_argument("-k", "--components", type=_positive_int, required=True, metavar="K")
    fit.add_argument(
        "--bayesian",
        nargs="?",
        const="dirichlet_process",
        choices=["dirichlet_process", "dirichlet_distribution"],
        metavar="PRIOR",
        help="fit the variational Bayesian mixture (K is then the most components "
        "it may use; unneeded ones get weights near 0) with this prior on the weights: "
        "dirichlet_process (the default) or dirichlet_distribution",
    )
    fit.add_argument(
        "--concentration",
        type=float,
        default=None,
        metavar="ALPHA",
        help="with --bayesian: the weight concentration prior (default 1/K; smaller "
        "values leave fewer components active)",
    )
    fit.add_argument(
        "--accelerate",
        action="store_true",
        help="extrapolate EM steps (SQUAREM): the same optimum in fewer passes where "
        "components overlap",
    )
    fit.add_argument(
        "-o", "--output", required=True, metavar="MODEL.npz", help="where to save the fitted model"
    )
    fit.set_defaults(run=_commands.fit)

    predict = commands.add_parser("predict", help="component of each row (or probabilities)")
    predict.add_argument("model", metavar="MODEL.npz")
    predict.add_argument("data")
    predict.add_argument(
        "-o", "--output", metavar="FILE", help=".npy, .csv, .tsv or .txt (default: print to stdout)"
    )
    predict.add_argument(
        "--proba", action="store_true", help="each component's probability instead of the label"
    )
    predict.set_defaults(run=_commands.predict)

    score = commands.add_parser("score", help="log-likelihood, BIC and AIC of data")
    score.add_argument("model", metavar="MODEL.npz")
    score.add_argument("data")
    score.set_defaults(run=_commands.score)

    select = commands.add_parser(
        "select",
        help="fit a range of K and pick the best",
        description="Fit each K in the range, print log-likelihood, "
        "BIC and AIC, and pick the best K.",
    )
    _add_fit_options(select)
    select.add_argument(
        "-k",
        "--components",
        type=_components_range,
        required=True,
        metavar="K1..K2",
        help="component counts: 1..20, 2,4,8 or 5",
    )
    select.add_argument("--criterion", choices=["bic", "icl", "aic"], default="bic")
    select.add_argument(
        "--models",
        type=_models,
        default=None,
        metavar="all|M1,M2,...",
        help="try these covariance models too (mclust's names, or 'all' for "
        "its 14): a table of the criterion, K by model",
    )
    select.add_argument("--plot", metavar="PNG", help="save the criteria against K")
    select.add_argument("-o", "--output", metavar="MODEL.npz", help="save the best model")
    select.set_defaults(run=_commands.select)

    impute = commands.add_parser(
        "impute",
        help="fill the missing cells of a table from a fitted model",
        description="Replace each missing cell (NA, ?, an empty field, NaN) of DATA by its "
        "conditional expectation under the model given the row's observed cells, or "
        "with --draws, by random draws from the conditional distribution (multiple "
        "imputation).",
    )
    impute.add_argument("model", metavar="MODEL.npz")
    impute.add_argument("data")
    impute.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help=".npy, .csv, .tsv or .txt (a header line when DATA has one)",
    )
    impute.add_argument(
        "--draws",
        type=_positive_int,
        default=None,
        metavar="M",
        help="M random imputations instead of the expectation: FILE (.npy) holds an "
        "array of shape (M, rows, columns)",
    )
    impute.add_argument("--seed", type=int, default=0, help="random seed of --draws")
    impute.set_defaults(run=_commands.impute)

    plot = commands.add_parser("plot", help="picture of the data and the fitted components")
    plot.add_argument("model", metavar="MODEL.npz")
    plot.add_argument("data")
    plot.add_argument("-o", "--output", required=True, metavar="PNG")
    plot.add_argument(
        "--dims",
        type=_dims,
        default=None,
        help="features to plot, 'I,J' (default 0,1) or 'pca' (default for more than two features)",
    )
    plot.add_argument(
        "--max-points",
        type=_positive_int,
        default=20_000,
        help="points drawn (a uniform subsample)",
    )
    plot.set_defaults(run=_commands.plot)

    demo = commands.add_parser("demo", help="fit the built-in example, print and draw it")
    demo.add_argument("--n-samples", type=_positive_int, default=_commands.DEMO_SHAPE["n_samples"])
    demo.add_argument("--max-iter", type=int, default=100)
    demo.add_argument("--tol", type=float, default=1e-6)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument(
        "--plot",
        metavar="PNG",
        default="fastem-demo.png",
        help="where to draw the fit (needs matplotlib; '' for no picture)",
    )
    demo.set_defaults(run=_commands.demo)

    info = commands.add_parser("info", help="version, backends, threads, CPU, Numba cache")
    info.set_defaults(run=_commands.info)

    bench = commands.add_parser(
        "bench", help="compare fastem and scikit-learn (python -m fastem.bench)"
    )
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    bench.set_defaults(run=_commands.bench)
    return parser


def _configure_logging(verbosity: int) -> None:
    if verbosity <= 0:
        return
    logging.basicConfig(
        level=logging.INFO if verbosity == 1 else logging.DEBUG,
        format="fastem: %(message)s",
        stream=sys.stderr,
    )


def _exit_quietly_on_closed_pipe() -> int:
    # The reader went away (``fastem predict ... | head``): stop without a traceback.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return args.run(args)
    except BrokenPipeError:
        return _exit_quietly_on_closed_pipe()
    except KeyboardInterrupt:
        print("fastem: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (
        DataFileError,
        _commands.CommandError,
        FileNotFoundError,
        ValueError,
        ImportError,
        MemoryError,
    ) as error:
        print(f"fastem {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_USER_ERROR


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, MemoryError):
        text = "out of memory; fit a .npy file (read in chunks) or use fewer rows"
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
