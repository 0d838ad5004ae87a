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
import tempfile
import warnings

from sklearn import config_context

from . import _commands
from ._io import DataFileError
from ._progress import compile_lines
from .covariance import COVARIANCE_TYPES

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse, with usage mistakes reported as one line (and a pointer to --help)."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


VERBOSE_HELP = (
    "log to stderr: -v each initialisation and every 10th iteration, -vv every iteration "
    "with its timing (before or after the command)"
)


class _CommandParser(Parser):
    """A command's parser, which also takes -v / -vv."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument(
            "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=VERBOSE_HELP
        )


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


DATA_HELP = (
    "data file: .csv/.tsv/.txt (delimiter and header detected), .parquet, .npy or .npz; "
    "columns and lines are numbered from 1"
)


def _add_data_options(parser: argparse.ArgumentParser, missing_default: str | None) -> None:
    """The options of every command that reads a data file: which columns, which rows."""
    parser.add_argument(
        "--columns",
        metavar="C1,C2,...",
        help="the columns to use, by name or number (default: every numeric column)",
    )
    parser.add_argument(
        "--drop", metavar="C1,C2,...", help="columns to leave out, by name or number"
    )
    parser.add_argument(
        "--label",
        metavar="COLUMN",
        help="a column of known classes (text or numbers), not fitted: fit compares the "
        "clustering with it (adjusted Rand index, contingency table)",
    )
    parser.add_argument(
        "--skip-text",
        action="store_true",
        help="leave out every column that holds text (default: a text column is an error)",
    )
    parser.add_argument(
        "--working-memory",
        type=float,
        default=None,
        metavar="MIB",
        help="memory for rows read at once (default: scikit-learn's working_memory, 1024 "
        "MiB); a table larger than half of it is converted to a temporary file and read "
        "in chunks",
    )
    model_default = " (default: em if the model was fitted with it, else error)"
    parser.add_argument(
        "--missing",
        choices=["error", "drop", "em"],
        default=missing_default,
        help="what a missing cell (NA, N/A, ?, NaN, null, an empty field) does: 'error', "
        "'drop' leaves out its row, 'em' fits it as a value missing at random "
        "(GaussianMixture's missing='em'; the saved model then also scores and imputes "
        "such rows)" + ("" if missing_default else model_default),
    )


def _add_fit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help=DATA_HELP)
    _add_data_options(parser, "error")
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
        help="row weights: a column of DATA (name or number from 1, then "
        "not fitted) or a file with one weight per row",
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
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    # -v is also taken after the command (_CommandParser): both add to the same count
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_CommandParser
    )

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
    predict.add_argument("data", help=DATA_HELP)
    _add_data_options(predict, None)
    predict.add_argument(
        "-o", "--output", metavar="FILE", help=".npy, .csv, .tsv or .txt (default: print to stdout)"
    )
    predict.add_argument(
        "--proba", action="store_true", help="each component's probability instead of the label"
    )
    predict.set_defaults(run=_commands.predict)

    score = commands.add_parser("score", help="log-likelihood, BIC and AIC of data")
    score.add_argument("model", metavar="MODEL.npz")
    score.add_argument("data", help=DATA_HELP)
    _add_data_options(score, None)
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
    impute.add_argument("data", help=DATA_HELP)
    _add_data_options(impute, None)
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
    plot.add_argument("data", help=DATA_HELP)
    _add_data_options(plot, None)
    plot.add_argument("-o", "--output", required=True, metavar="PNG")
    plot.add_argument(
        "--dims",
        default=None,
        help="features to plot: two names or numbers from 1, 'I,J' (default: the two "
        "features of a two-feature model), or 'pca' (the default for more)",
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
        default=os.path.join(tempfile.gettempdir(), "fastem-demo.png"),
        help="where to draw the fit (needs matplotlib; '' for no picture; default: "
        "fastem-demo.png in the temporary folder)",
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
    # Data files are matched to a model's feature names by the commands themselves, which
    # then hand the estimator plain arrays: scikit-learn's reminder does not apply.
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    memory = getattr(args, "working_memory", None)
    try:
        if memory is not None and not memory > 0:
            raise _commands.CommandError(f"--working-memory must be positive; got {memory}")
        with (
            config_context(**({} if memory is None else {"working_memory": memory})),
            compile_lines(enabled=args.verbose <= 0),
        ):
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
