"""The command line, run for real: the installed ``fastem`` console script in a subprocess."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fastem import GaussianMixture, load
from fastem._bench_cases import compiled_backends
from fastem.datasets import make_mixture

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
FASTEM = shutil.which("fastem", path=os.path.dirname(sys.executable)) or shutil.which("fastem")


def _run(*args, cwd=None):
    command = [FASTEM, *args] if FASTEM else [sys.executable, "-m", "fastem", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=cwd)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The same data as csv with and without a header, tsv, npy and npz, plus weights."""
    folder = tmp_path_factory.mktemp("cli")
    X, _ = make_mixture(3000, 3, 3, separation=8.0, random_state=1)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, size=X.shape[0])
    np.savetxt(folder / "header.csv", X, delimiter=",", header="x,y,z", comments="")
    np.savetxt(folder / "plain.csv", X, delimiter=",")
    np.savetxt(folder / "data.tsv", X, delimiter="\t")
    np.savetxt(
        folder / "weighted.csv", np.c_[X, weights], delimiter=",", header="x,y,z,w", comments=""
    )
    np.savetxt(folder / "weights.csv", weights)
    np.save(folder / "data.npy", X)
    np.savez(folder / "data.npz", X=X)
    (folder / "letters.csv").write_text("x,y\n1,2\n3,abc\n")
    (folder / "ragged.csv").write_text("1,2\n3,4,5\n")
    # the short line lies past the first blocks pyarrow reads to learn the columns
    (folder / "ragged-late.csv").write_text("x,y\n" + "1,2\n" * 40_000 + "3\n")
    (folder / "empty.csv").write_text("")
    (folder / "notes.dat").write_text("1 2\n")
    (folder / "hex.csv").write_text("0x10,2\n1,2\n3,4\n")
    (folder / "nul.csv").write_bytes(b"\0" * 100_000)
    (folder / "bom.csv").write_text("1.5,2\n1,2\n3,4\n", encoding="utf-8-sig")
    (folder / "semicolon.csv").write_text("x;y\n1.5;2\n1;2\n3;4\n")
    np.save(folder / "big-endian.npy", X.astype(">f8"))
    np.savez(
        folder / "tampered.npz",
        format=np.array("fastem.GaussianMixture"),
        params=np.array("[1, 2]"),
    )
    return folder, X, weights


@pytest.fixture(scope="module")
def model_path(files):
    """A model fitted by the command line, for the commands that read one."""
    return _fit(files)[1]


def _fit(files, *extra, name="model.npz"):
    folder, _, _ = files
    result = _run(
        "fit",
        str(folder / "header.csv"),
        "-k",
        "3",
        "--seed",
        "0",
        "-o",
        str(folder / name),
        *extra,
    )
    assert result.returncode == 0, result.stderr
    return result, folder / name


def test_fit_prints_a_summary_and_saves_the_model_sklearn_would_fit(files):
    folder, X, _ = files
    result, path = _fit(files)
    out = result.stdout
    assert re.search(r"3-component full mixture of 3,000 rows x 3 features", out)
    assert re.search(r"converged after \d+ iterations in [\d.]+ s \([\d.]+ ms per iteration", out)
    assert re.search(r"log-likelihood per row -?[\d.]+\s+BIC [\d.]+\s+AIC [\d.]+", out)
    assert len(re.findall(r"^\s+\d\s+0\.\d{4}\s+\[", out, flags=re.MULTILINE)) == 3
    model = load(path)
    reference = GaussianMixture(3, random_state=0).fit(X)
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-9)
    bic = float(re.search(r"BIC ([\d.]+)", out).group(1))
    assert bic == pytest.approx(reference.bic(X), abs=0.1)


@pytest.mark.parametrize("name", ["plain.csv", "data.tsv", "data.npy", "data.npz"])
def test_every_format_gives_the_same_model(files, name):
    folder, X, _ = files
    result = _run("fit", str(folder / name), "-k", "3", "-o", str(folder / f"{name}.npz"))
    assert result.returncode == 0, result.stderr
    reference = GaussianMixture(3, random_state=0).fit(X)
    np.testing.assert_allclose(load(folder / f"{name}.npz").means_, reference.means_, rtol=1e-9)


@pytest.mark.parametrize("source", ["column", "file"])
def test_weights_from_a_column_or_a_file(files, source):
    folder, X, weights = files
    data = folder / ("weighted.csv" if source == "column" else "header.csv")
    option = "w" if source == "column" else str(folder / "weights.csv")
    result = _run(
        "fit", str(data), "-k", "3", "--weights", option, "-o", str(folder / f"w-{source}.npz")
    )
    assert result.returncode == 0, result.stderr
    reference = GaussianMixture(3, random_state=0).fit(X, sample_weight=weights)
    model = load(folder / f"w-{source}.npz")
    assert model.n_features_in_ == 3
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-9)


def test_fit_options_reach_the_estimator(files):
    _, path = _fit(
        files,
        "--covariance",
        "diag",
        "--dtype",
        "float32",
        "--max-iter",
        "7",
        "--tol",
        "0",
        "--n-init",
        "2",
        "--threads",
        "1",
        "--backend",
        "numpy",
        name="options.npz",
    )
    params = load(path).get_params()
    assert (
        params["covariance_type"],
        params["max_iter"],
        params["tol"],
        params["n_init"],
        params["n_jobs"],
        params["backend"],
    ) == ("diag", 7, 0.0, 2, 1, "numpy")
    assert load(path).n_iter_ == 7


def test_predict_and_score(files, model_path):
    folder, X, _ = files
    path = model_path
    model = load(path)
    printed = _run("predict", str(path), str(folder / "plain.csv"))
    assert printed.returncode == 0, printed.stderr
    np.testing.assert_array_equal(np.array(printed.stdout.split(), dtype=int), model.predict(X))
    saved = _run(
        "predict", str(path), str(folder / "data.npy"), "--proba", "-o", str(folder / "proba.npy")
    )
    assert saved.returncode == 0, saved.stderr
    np.testing.assert_allclose(np.load(folder / "proba.npy"), model.predict_proba(X))
    scored = _run("score", str(path), str(folder / "data.npz"))
    assert scored.returncode == 0, scored.stderr
    value = float(re.search(r"log-likelihood per row (-?[\d.]+)", scored.stdout).group(1))
    assert value == pytest.approx(model.score(X), abs=1e-7)


def test_predict_into_a_closed_pipe_exits_quietly(files, model_path):
    folder, _, _ = files
    path = model_path
    command = (
        f"{FASTEM or sys.executable + ' -m fastem'} predict {path} "
        f"{folder / 'plain.csv'} | head -n 1"
    )
    result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=600)
    assert result.stdout.strip().isdigit()
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_select_picks_the_true_number_of_components(files):
    folder, _, _ = files
    plot = ["--plot", str(folder / "bic.png")] if HAVE_MATPLOTLIB else []
    result = _run(
        "select", str(folder / "data.npy"), "-k", "1..5", *plot, "-o", str(folder / "best.npz")
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"\s+\d+\s+-", line)]
    assert [int(row[0]) for row in rows] == [1, 2, 3, 4, 5]
    bics = [float(row[2]) for row in rows]
    assert int(np.argmin(bics)) + 1 == 3
    assert "best by BIC: K = 3" in result.stdout
    assert load(folder / "best.npz").n_components == 3
    if HAVE_MATPLOTLIB:
        assert (folder / "bic.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_select_over_covariance_models_prints_mclusts_table(files):
    folder, _, _ = files
    plot = ["--plot", str(folder / "models.png")] if HAVE_MATPLOTLIB else []
    result = _run(
        "select",
        str(folder / "data.npy"),
        "-k",
        "1..4",
        "--models",
        "EII,VVI,VVV",
        "--criterion",
        "icl",
        *plot,
        "-o",
        str(folder / "best-model.npz"),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ICL", "EII", "VVI", "VVV"]
    assert [int(line.split()[0]) for line in lines[1:5]] == [1, 2, 3, 4]
    assert re.search(r"best by ICL: (EII|VVI|VVV) with K = 3", result.stdout)
    assert load(folder / "best-model.npz").n_components == 3
    if HAVE_MATPLOTLIB:
        assert (folder / "models.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = _run("select", str(folder / "data.npy"), "-k", "1..2", "--models", "EII,XYZ")
    assert result.returncode == 2 and "Unknown covariance model 'XYZ'" in result.stderr


def test_parquet_columns_are_read_by_name(files, tmp_path):
    parquet = pytest.importorskip("pyarrow.parquet")
    import pyarrow

    _, X, weights = files
    columns = {"x": X[:, 0], "y": X[:, 1].astype(np.float32), "z": X[:, 2], "w": weights}
    parquet.write_table(pyarrow.table(columns), tmp_path / "data.parquet")
    result = _run(
        "fit",
        str(tmp_path / "data.parquet"),
        "-k",
        "3",
        "--weights",
        "w",
        "-o",
        str(tmp_path / "p.npz"),
    )
    assert result.returncode == 0, result.stderr
    expected = np.c_[X[:, 0], X[:, 1].astype(np.float32), X[:, 2]]
    reference = GaussianMixture(3, random_state=0).fit(expected, sample_weight=weights)
    np.testing.assert_allclose(load(tmp_path / "p.npz").means_, reference.means_, rtol=1e-9)
    parquet.write_table(
        pyarrow.table({"x": X[:, 0], "name": ["a"] * X.shape[0]}), tmp_path / "text.parquet"
    )
    bad = _run("fit", str(tmp_path / "text.parquet"), "-k", "2", "-o", str(tmp_path / "q.npz"))
    assert bad.returncode == 2
    assert "column 'name' (2) holds text (its type is string)" in bad.stderr


@pytest.mark.parametrize("dims", [None, "1,2", "pca"])
def test_plot_writes_a_png(files, model_path, dims):
    pytest.importorskip("matplotlib")
    folder, _, _ = files
    path = model_path
    picture = folder / f"fit-{dims}.png"
    extra = [] if dims is None else ["--dims", dims]
    result = _run("plot", str(path), str(folder / "data.npy"), "-o", str(picture), *extra)
    assert result.returncode == 0, result.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size > 10_000  # points and ellipses, not an empty canvas


def test_plot_without_matplotlib_says_how_to_install_it(files, model_path, tmp_path):
    folder, _, _ = files
    path = model_path
    (tmp_path / "matplotlib").mkdir()  # a package that fails to import shadows the real one
    (tmp_path / "matplotlib" / "__init__.py").write_text("raise ImportError('hidden')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fastem",
            "plot",
            str(path),
            str(folder / "data.npy"),
            "-o",
            str(tmp_path / "x.png"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 2
    assert 'pip install "fastem[plot]"' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_demo_prints_model_iterations_timing_and_draws_the_fit(tmp_path):
    result = _run("demo", "--n-samples", "20000", "--plot", "demo.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(
        r"(converged|stopped at max_iter) after \d+ iterations: .* ms per iteration", out
    )
    lines = [line.split() for line in out.splitlines()]
    iterations = [
        float(parts[1])
        for parts in lines
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].startswith("-")
    ]
    assert len(iterations) >= 2
    assert iterations == sorted(iterations)  # EM never lowers the log-likelihood
    assert len(re.findall(r"^\s+\d+\s+0\.\d{4}\s+\[", out, flags=re.MULTILINE)) == 6
    assert "BIC:" in out
    if "no picture" not in out:
        assert (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG"


def test_info_names_backends_threads_cpu_and_cache():
    result = _run("info")
    assert result.returncode == 0, result.stderr
    for needle in (
        "fastem ",
        "backends:",
        "numpy ",
        "'auto' uses:",
        "threads:",
        "cpu:",
        "numba cache:",
    ):
        assert needle in result.stdout


def test_progress_bar_only_when_asked_or_on_a_terminal(files):
    folder, _, _ = files
    quiet, _ = _fit(files, name="quiet.npz")  # stderr is a pipe here: no bar, no log
    assert "it/s" not in quiet.stderr and "s/it" not in quiet.stderr
    assert "EM iteration" not in quiet.stderr
    shown, _ = _fit(files, "--progress", name="shown.npz")
    assert re.search(r"EM: .*\|.*log-lik -?[\d.]+, change", shown.stderr)


def test_verbose_logs_to_stderr(files):
    verbose = _run(
        "-vv", "fit", str(files[0] / "header.csv"), "-k", "3", "-o", str(files[0] / "verbose.npz")
    )
    assert verbose.returncode == 0, verbose.stderr
    assert re.search(r"fastem: EM iteration 1: lower bound", verbose.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "{f}/missing.csv", "-k", "2", "-o", "{f}/m.npz"], "missing.csv: no such file"),
        (["fit", "{f}/notes.dat", "-k", "2", "-o", "{f}/m.npz"], "unknown format '.dat'"),
        (
            ["fit", "{f}/letters.csv", "-k", "1", "-o", "{f}/m.npz"],
            "column 'y' (2) holds text ('abc' on line 3)",
        ),
        (["fit", "{f}/ragged.csv", "-k", "1", "-o", "{f}/m.npz"], "line 2 has 3 fields"),
        (
            ["fit", "{f}/ragged-late.csv", "-k", "1", "-o", "{f}/m.npz"],
            "ragged-late.csv: line 40002 has 1 fields where the lines before have 2",
        ),
        (["fit", "{f}/empty.csv", "-k", "1", "-o", "{f}/m.npz"], "the file is empty"),
        (["fit", "{f}/data.npy", "-k", "0", "-o", "{f}/m.npz"], "must be >= 1"),
        (["fit", "{f}/data.npy", "-k", "5000", "-o", "{f}/m.npz"], "n_samples >= n_components"),
        (["fit", "{f}/data.npy", "-k", "2", "--tol", "-1", "-o", "{f}/m.npz"], "'tol'"),
        (
            ["fit", "{f}/header.csv", "-k", "2", "--weights", "nope", "-o", "{f}/m.npz"],
            "--weights 'nope': no such column",
        ),
        (
            ["fit", "{f}/data.npy", "-k", "2", "--backend", "gpu", "-o", "{f}/m.npz"],
            "invalid choice",
        ),
        (["select", "{f}/data.npy", "-k", "4..2"], "component counts"),
        (["predict", "{f}/missing.npz", "{f}/data.npy"], "no such model file"),
        (["predict", "{f}/data.npy", "{f}/data.npy"], "not a fastem model file"),
        (
            ["predict", "{f}/model.npz", "{f}/data.npy", "-o", "{f}/out.xyz"],
            "unknown output format",
        ),
        (["score", "{f}/model.npz", "{f}/letters.csv"], "lacks 'z'"),
        (
            ["plot", "{f}/model.npz", "{f}/data.npy", "-o", "{f}/p.png", "--dims", "1,7"],
            "feature '7' does not exist",
        ),
        (["fit", "{f}/hex.csv", "-k", "1", "-o", "{f}/m.npz"], "line 1 mixes numbers and text"),
        (["fit", "{f}/nul.csv", "-k", "1", "-o", "{f}/m.npz"], "not a text file"),
        (["fit", "{f}/data.npy", "-k", "1", "-o", "{f}"], "is a directory"),
        (["fit", "{f}/data.npy", "-k", "1", "-o", "{f}/nope/m.npz"], "does not exist"),
        (["select", "{f}/data.npy", "-k", "1..1000000000000"], "at most 1000"),
        (["predict", "{f}/tampered.npz", "{f}/data.npy"], "tampered.npz: missing"),
        (["fit"], "required"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(files, model_path, args, message):
    folder, _, _ = files
    result = _run(*[arg.format(f=folder) for arg in args])
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert message in lines[0]
    assert lines[0].startswith("fastem")


@pytest.mark.parametrize(
    "name, rows", [("bom.csv", 3), ("semicolon.csv", 3), ("big-endian.npy", 3000)]
)
def test_byte_order_marks_semicolons_and_big_endian_files_are_read(files, name, rows):
    folder, _, _ = files
    result = _run("fit", str(folder / name), "-k", "1", "-o", str(folder / f"{name}.npz"))
    assert result.returncode == 0, result.stderr
    assert f"mixture of {rows:,} rows x " in result.stdout


def test_features_must_match_the_model(files, model_path, tmp_path):
    folder, X, _ = files
    np.save(tmp_path / "two.npy", X[:, :2])
    result = _run("predict", str(model_path), str(tmp_path / "two.npy"))
    assert result.returncode == 2
    assert "has 2 columns but the model was fitted on 3" in result.stderr


def test_bench_compares_with_sklearn():
    result = subprocess.run(
        [sys.executable, "-m", "fastem.bench", "--quick", "--case", "lowdim", "--scale", "0.005"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("lowdim"))
    speedup = float(re.search(r"([\d.]+)x", row).group(1))
    assert speedup > 0
    floors = next(
        line
        for line in result.stdout.splitlines()
        if line.startswith("of which the dependencies' imports")
    )
    seconds = [float(value) for value in re.findall(r"([\d.]+) s\b", floors)]
    assert len(seconds) == (2 if "numba" in compiled_backends() else 1), floors
    assert all(value > 0 for value in seconds), floors


def test_fit_bayesian_lists_the_active_components(files):
    from fastem import BayesianGaussianMixture

    folder, X, _ = files
    path = folder / "bayesian.npz"
    result = _run(
        "fit",
        str(folder / "header.csv"),
        "-k",
        "8",
        "--bayesian",
        "--concentration",
        "0.001",
        "--max-iter",
        "300",
        "-o",
        str(path),
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"8-component variational Bayesian full mixture of 3,000 rows", out)
    assert re.search(r"lower bound -?[\d.e+]+\s+3 of 8 components active", out)
    assert len(re.findall(r"^\s+\d\s+0\.\d{4}\s+\[", out, flags=re.MULTILINE)) == 3
    assert "inactive:" in out
    model = load(path)
    reference = BayesianGaussianMixture(
        n_components=8, weight_concentration_prior=0.001, max_iter=300, random_state=0
    ).fit(X)
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-9)
    score = _run("score", str(path), str(folder / "header.csv"))
    assert score.returncode == 0, score.stderr
    value = float(re.search(r"per row (-?[\d.]+)", score.stdout).group(1))
    assert value == pytest.approx(reference.score(X), abs=1e-7)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--bayesian", "--covariance", "VVV"], "--bayesian fits full, tied, diag, spherical"),
        (["--concentration", "0.1"], "--concentration is a prior of --bayesian"),
    ],
)
def test_bayesian_options_are_checked(files, options, message):
    folder, _, _ = files
    result = _run(
        "fit", str(folder / "header.csv"), "-k", "3", *options, "-o", str(folder / "x.npz")
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_bench_compares_the_bayesian_mixture_with_sklearn():
    command = [sys.executable, "-m", "fastem.bench", "--bayesian", "--quick", "--no-memory"]
    result = subprocess.run(
        command + ["--case", "lowdim", "--scale", "0.005"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("lowdim")]
    assert len(rows) == len(compiled_backends())
    for row in rows:
        fastem_s, sklearn_s = (float(v) for v in re.findall(r"\s(\d+\.\d{4})\s", row)[:2])
        assert fastem_s > 0 and sklearn_s > 0


def test_a_time_per_iteration_below_the_noise_is_measured_again(monkeypatch):
    from fastem import _bench_cases

    fits = iter([1.0, 1.5, 2.0, 1.0])  # (long, short) fit seconds: −0.5 s, then 1.0 s
    monkeypatch.setattr(_bench_cases, "_fit_seconds", lambda *args: next(fits))
    assert _bench_cases.time_per_iteration(None, None, None, None, 1, 2, 1) == [1.0]


@pytest.fixture(scope="module")
def holed_csv(tmp_path_factory):
    """A table with NA, empty and '?' cells, and the same values with NaN."""
    folder = tmp_path_factory.mktemp("cli-missing")
    X, _ = make_mixture(600, 3, 2, separation=6.0, random_state=3)
    holed = X.copy()
    holed[np.random.default_rng(1).random(X.shape) < 0.15] = np.nan
    tokens = ["NA", "", "?"]
    lines = ["a,b,c"] + [
        ",".join(tokens[(i + j) % 3] if np.isnan(v) else repr(float(v)) for j, v in enumerate(row))
        for i, row in enumerate(holed)
    ]
    (folder / "holed.csv").write_text("\n".join(lines) + "\n")
    return folder, holed


def test_missing_cells_are_refused_with_the_option_named(holed_csv):
    folder, holed = holed_csv
    result = _run("fit", str(folder / "holed.csv"), "-k", "2", "-o", str(folder / "m.npz"))
    assert result.returncode == 2
    first = np.argwhere(np.isnan(holed))[0]
    assert f"on line {first[0] + 2}" in result.stderr
    assert "--missing em" in result.stderr and "Traceback" not in result.stderr
    bayesian = _run(
        "fit",
        str(folder / "holed.csv"),
        "-k",
        "2",
        "--bayesian",
        "--missing",
        "em",
        "-o",
        str(folder / "b.npz"),
    )
    assert bayesian.returncode == 2 and "--bayesian" in bayesian.stderr


def test_fit_score_predict_impute_with_missing_cells(holed_csv):
    folder, holed = holed_csv
    path, model_file = str(folder / "holed.csv"), str(folder / "em.npz")
    fitted = _run("fit", path, "-k", "2", "--missing", "em", "-o", model_file)
    assert fitted.returncode == 0, fitted.stderr
    model = load(model_file)
    assert model.missing == "em"
    same = GaussianMixture(2, missing="em", random_state=0).fit(holed)
    assert np.allclose(np.sort(model.means_, axis=0), np.sort(same.means_, axis=0))
    scored = _run("score", model_file, path)
    assert scored.returncode == 0, scored.stderr
    expected = f"{model.score(holed):.8f}"
    assert f"log-likelihood per row {expected}" in scored.stdout
    labels = _run("predict", model_file, path, "-o", str(folder / "labels.npy"))
    assert labels.returncode == 0
    assert np.array_equal(np.load(folder / "labels.npy"), model.predict(holed))
    imputed = _run("impute", model_file, path, "-o", str(folder / "filled.csv"))
    assert imputed.returncode == 0, imputed.stderr
    assert f"{int(np.isnan(holed).sum()):,} missing cell(s)" in imputed.stdout
    text = (folder / "filled.csv").read_text().splitlines()
    assert text[0] == "a,b,c"
    filled = np.loadtxt(folder / "filled.csv", delimiter=",", skiprows=1)
    assert np.allclose(filled, model.impute(holed), rtol=1e-9)
    draws = _run("impute", model_file, path, "-o", str(folder / "draws.npy"), "--draws", "3")
    assert draws.returncode == 0, draws.stderr
    assert np.load(folder / "draws.npy").shape == (3, *holed.shape)
    refused = _run("impute", model_file, path, "-o", str(folder / "d.csv"), "--draws", "3")
    assert refused.returncode == 2 and ".npy" in refused.stderr


def test_a_model_fitted_without_missing_values_names_the_refit(holed_csv):
    folder, holed = holed_csv
    complete = folder / "complete.npy"
    np.save(complete, np.nan_to_num(holed))
    model_file = str(folder / "plain.npz")
    assert _run("fit", str(complete), "-k", "2", "-o", model_file).returncode == 0
    result = _run("score", model_file, str(folder / "holed.csv"))
    assert result.returncode == 2
    assert "--missing em" in result.stderr and "Traceback" not in result.stderr
    np.save(folder / "holed.npy", holed)
    from_npy = _run("fit", str(folder / "holed.npy"), "-k", "2", "-o", model_file)
    assert from_npy.returncode == 2 and "--missing em" in from_npy.stderr


def test_fit_accelerated(files, tmp_path):
    folder, X, _ = files
    output = tmp_path / "fast.npz"
    result = _run("fit", str(folder / "data.npy"), "-k", "3", "--accelerate", "-o", str(output))
    assert result.returncode == 0, result.stderr
    model = load(output)
    assert model.accelerate is True
    plain = GaussianMixture(3, random_state=0).fit(X)
    assert model.score(X) == pytest.approx(plain.score(X), abs=1e-3)
    bayesian = _run(
        "fit",
        str(folder / "data.npy"),
        "-k",
        "3",
        "--bayesian",
        "--accelerate",
        "-o",
        str(tmp_path / "b.npz"),
    )
    assert bayesian.returncode == 2 and "--accelerate" in bayesian.stderr


def test_bench_to_convergence():
    command = [sys.executable, "-m", "fastem.bench", "--to-convergence", "--quick"]
    result = subprocess.run(
        command + ["--case", "lowdim", "--scale", "0.002"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    for case in ("lowdim", "overlapping", "iris", "wine", "breast-cancer"):
        rows = [line for line in result.stdout.splitlines() if line.startswith(case)]
        assert [row.split("  ")[-1] for row in rows] and len(rows) == 3, case
        assert all("True" in row or "False" in row for row in rows)


def test_bench_missing_values():
    from fastem.bench_missing import recovery_rows, timing_rows

    rows = timing_rows(("lowdim",), scale=0.002, repeats=1, short=1, long=2)
    assert {row["data"] for row in rows} == {"complete", "random", "few"}
    few = next(row for row in rows if row["data"] == "few")
    assert few["patterns"] == 2 and 0.05 < few["missing"] < 0.15  # two columns: two blocks
    (recovery,) = recovery_rows(sizes=(2000,), fractions=(0.3,))
    assert recovery["em"][0] < recovery["mean_filled"][0]
    assert recovery["impute_rmse"] < recovery["mean_rmse"]
