"""What a fit reports, through :mod:`logging`: verbose lines and a progress bar.

Everything goes to the ``"fastem"`` logger:

- at INFO, when ``verbose`` ≥ 1, scikit-learn's verbose lines
  ("Initialization 0", "  Iteration 10 ...", "Initialization converged.");
- at DEBUG, always, one record per initialisation and per EM iteration, whose
  ``fastem`` attribute is a dict of the numbers (iteration, lower bound,
  change, seconds): what :class:`ProgressBar` and any other handler read;
- when a kernel must be compiled (:mod:`fastem.backends._compile`), a record as
  it starts (a warning for the first in a process, else INFO) and one at INFO
  as it ends: :func:`compile_lines` shows them on the command line.

scikit-learn prints its verbose lines; so does fastem when nobody listens to
the ``"fastem"`` logger (:func:`verbose_output`). Configure logging (e.g.
``logging.basicConfig(level=logging.INFO)``) to send them elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from time import perf_counter

logger = logging.getLogger("fastem")


class FitReporter:
    """The reports of one ``fit``: called by the driver at each step of EM."""

    def __init__(self, verbose: int, verbose_interval: int, n_init: int, max_iter: int):
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_init = n_init
        self.max_iter = max_iter
        self._init_started = self._iteration_started = perf_counter()

    def init_start(self, init: int) -> None:
        self._init_started = self._iteration_started = self._last_message = perf_counter()
        logger.debug(
            "initialisation %d of %d",
            init + 1,
            self.n_init,
            extra={
                "fastem": {
                    "event": "init",
                    "init": init,
                    "n_init": self.n_init,
                    "max_iter": self.max_iter,
                }
            },
        )
        if self.verbose >= 1:
            logger.info("Initialization %d", init)

    def iteration(self, n_iter: int, lower_bound: float, change: float) -> None:
        now = perf_counter()
        seconds, self._iteration_started = now - self._iteration_started, now
        logger.debug(
            "EM iteration %d: lower bound %.10g, change %.3g",
            n_iter,
            lower_bound,
            change,
            extra={
                "fastem": {
                    "event": "iteration",
                    "n_iter": n_iter,
                    "lower_bound": lower_bound,
                    "change": change,
                    "seconds": seconds,
                }
            },
        )
        if self.verbose == 0 or n_iter % self.verbose_interval != 0:
            return
        if self.verbose == 1:
            logger.info("  Iteration %d", n_iter)
        else:  # time since the last message, as scikit-learn reports it
            logger.info(
                "  Iteration %d\t time lapse %.5fs\t ll change %.5f",
                n_iter,
                now - self._last_message,
                change,
            )
            self._last_message = now

    def init_end(self, lower_bound: float, converged: bool) -> None:
        message = "converged" if converged else "did not converge"
        logger.debug(
            "initialisation %s",
            message,
            extra={
                "fastem": {"event": "init_end", "converged": converged, "lower_bound": lower_bound}
            },
        )
        if self.verbose == 1:
            logger.info("Initialization %s.", message)
        elif self.verbose >= 2:
            logger.info(
                "Initialization %s. time lapse %.5fs\t lower bound %.5f.",
                message,
                perf_counter() - self._init_started,
                lower_bound,
            )


@contextlib.contextmanager
def _handler_on_logger(handler: logging.Handler, level: int) -> Iterator[None]:
    previous_level = logger.level
    logger.addHandler(handler)
    if previous_level == logging.NOTSET or previous_level > level:
        logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


@contextlib.contextmanager
def verbose_output(verbose: int) -> Iterator[None]:
    """Print the verbose lines to stdout, as scikit-learn does, unless logging is configured."""
    if verbose <= 0 or (logger.hasHandlers() and logger.isEnabledFor(logging.INFO)):
        yield
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(logging.INFO)
    with _handler_on_logger(handler, logging.INFO):
        yield


class ProgressBar(logging.Handler):
    """A tqdm bar per initialisation: iterations, log-likelihood, change, s/iteration, ETA.

    The estimated time left counts up to ``max_iter``; EM often converges sooner.
    """

    def __init__(self, stream=None):
        super().__init__(logging.DEBUG)
        self.stream = sys.stderr if stream is None else stream
        self.bar = None

    def emit(self, record: logging.LogRecord) -> None:
        report = getattr(record, "fastem", None)
        if report is None:
            return
        from tqdm import tqdm

        if report["event"] == "init":
            self.close()
            label = f"EM {report['init'] + 1}/{report['n_init']}" if report["n_init"] > 1 else "EM"
            self.bar = tqdm(
                total=report["max_iter"],
                desc=label,
                unit="it",
                file=self.stream,
                dynamic_ncols=True,
                leave=True,
            )
        elif report["event"] == "iteration" and self.bar is not None:
            self.bar.set_postfix_str(
                f"log-lik {report['lower_bound']:.6f}, change "
                f"{report['change']:.2e}, {report['seconds']:.3f} s/it",
                refresh=False,
            )
            self.bar.update(1)
        elif report["event"] == "init_end":
            if self.bar is not None and report["converged"]:
                self.bar.total = self.bar.n  # converged early: the bar ends full
                self.bar.refresh()
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        super().close()


@contextlib.contextmanager
def progress_bar(enabled: bool, stream=None) -> Iterator[None]:
    """Show a :class:`ProgressBar` on stderr for the fits run inside, when ``enabled``."""
    if not enabled:
        yield
        return
    bar = ProgressBar(stream)
    with _handler_on_logger(bar, logging.DEBUG):
        try:
            yield
        finally:
            bar.close()


def _is_compile_record(record: logging.LogRecord) -> bool:
    return str(getattr(record, "fastem", {}).get("event", "")).startswith("compile")


@contextlib.contextmanager
def compile_lines(enabled: bool, stream=None) -> Iterator[None]:
    """Show the kernel compilations (start and end, with seconds) on stderr, when ``enabled``."""
    if not enabled:
        yield
        return
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(logging.Formatter("fastem: %(message)s"))
    handler.addFilter(_is_compile_record)
    with _handler_on_logger(handler, logging.INFO):
        yield
