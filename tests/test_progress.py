"""What a fit reports: scikit-learn's verbose lines, DEBUG records per iteration, the bar."""

import io
import logging
import re

from fastem import GaussianMixture
from fastem._progress import progress_bar


def test_verbose_prints_scikit_learns_messages(blobs, capsys):
    model = GaussianMixture(
        4, verbose=2, verbose_interval=1, n_init=2, tol=1e-6, random_state=0
    ).fit(blobs)
    out = capsys.readouterr().out
    assert out.count("Initialization 0") == 1 and out.count("Initialization 1") == 1
    iterations = re.findall(r"  Iteration (\d+)\t time lapse [\d.]+s\t ll change -?[\d.]+", out)
    assert len(iterations) >= model.n_iter_
    assert re.search(r"Initialization converged. time lapse [\d.]+s\t lower bound -?[\d.]+\.", out)


def test_silent_by_default(blobs, capsys):
    GaussianMixture(4, random_state=0).fit(blobs)
    assert capsys.readouterr().out == ""


def test_every_iteration_is_a_debug_record_with_its_numbers(blobs, caplog):
    with caplog.at_level(logging.DEBUG, logger="fastem"):
        model = GaussianMixture(4, tol=1e-8, random_state=0).fit(blobs)
    reports = [
        r.fastem for r in caplog.records if getattr(r, "fastem", {}).get("event") == "iteration"
    ]
    assert [r["n_iter"] for r in reports] == list(range(1, model.n_iter_ + 1))
    assert [r["lower_bound"] for r in reports] == model.lower_bounds_
    assert all(r["seconds"] >= 0 for r in reports)


def test_verbose_goes_to_configured_logging_instead_of_stdout(blobs, caplog, capsys):
    with caplog.at_level(logging.INFO, logger="fastem"):
        GaussianMixture(4, verbose=1, random_state=0).fit(blobs)
    assert "Initialization 0" in caplog.messages
    assert capsys.readouterr().out == ""


def test_progress_bar_shows_iterations_and_log_likelihood(blobs):
    stream = io.StringIO()
    with progress_bar(True, stream=stream):
        model = GaussianMixture(4, tol=1e-8, random_state=0).fit(blobs)
    text = stream.getvalue()
    assert f"{model.n_iter_}/{model.n_iter_}" in text  # converged: the bar ends full
    assert re.search(r"log-lik -?[\d.]+, change -?[\d.e+-]+, [\d.]+ s/it", text)
    assert not logging.getLogger("fastem").handlers  # the bar is detached afterwards
