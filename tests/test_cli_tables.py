"""Real tables through the command line: columns, labels, missing cells, names, big files."""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fastem import GaussianMixture, load
from fastem.datasets import make_mixture

from .test_cli import _run

pa = pytest.importorskip("pyarrow")
pa_csv = pytest.importorskip("pyarrow.csv")
parquet = pytest.importorskip("pyarrow.parquet")

SPECIES = ("Adelie", "Chinstrap", "Gentoo")
COLUMNS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    """A table shaped like the Palmer penguins: text columns, a label, NA cells."""
    folder = tmp_path_factory.mktemp("tables")
    rng = np.random.default_rng(0)
    centres = {
        "Adelie": (38.8, 18.3, 190.0, 3700.0),
        "Chinstrap": (48.8, 18.4, 196.0, 3733.0),
        "Gentoo": (47.5, 15.0, 217.0, 5076.0),
    }
    spread = np.array([1.5, 0.6, 4.0, 250.0])
    species = np.array([SPECIES[i % 3] for i in range(342)])
    values = np.stack([centres[s] for s in species]) + rng.normal(size=(342, 4)) * spread
    holes = rng.random(values.shape) < 0.02
    lines = ['"species","island",' + ",".join(f'"{c}"' for c in COLUMNS) + ',"sex"']
    for s, row, hole in zip(species, values, holes, strict=True):
        cells = ["NA" if h else f"{v:.1f}" for v, h in zip(row, hole, strict=True)]
        lines.append(f'{s},"Biscoe, north",' + ",".join(cells) + ",female")
    (folder / "penguins.csv").write_text("\n".join(lines) + "\n")
    holed = np.where(holes, np.nan, np.round(values, 1))
    return folder, species, holed


def _fit(*args):
    result = _run("fit", *map(str, args))
    assert result.returncode == 0, result.stderr
    return result


def test_text_columns_are_refused_with_what_to_do(penguins):
    folder, _, _ = penguins
    result = _run("fit", str(folder / "penguins.csv"), "-k", "3", "-o", str(folder / "m.npz"))
    assert result.returncode == 2
    message = result.stderr.strip()
    assert "column 'species' (1) holds text ('Adelie' on line 2)" in message
    for remedy in ("--drop species", "--label species", "--skip-text"):
        assert remedy in message


def test_a_label_column_is_compared_with_the_clustering(penguins):
    folder, species, holed = penguins
    result = _fit(
        folder / "penguins.csv",
        "-k",
        "3",
        "--label",
        "species",
        "--skip-text",
        "--missing",
        "em",
        "-o",
        folder / "em.npz",
    )
    assert "column 'island' (2) holds text; left out" in result.stderr
    ari = float(re.search(r"adjusted Rand index (\d\.\d+)", result.stdout).group(1))
    model = load(folder / "em.npz")
    from sklearn.metrics import adjusted_rand_score

    assert ari == pytest.approx(adjusted_rand_score(species, model.predict(holed)), abs=1e-4)
    for name in SPECIES:  # one row of the contingency table per species
        assert re.search(rf"^\s*{name}(\s+\d+)+", result.stdout, flags=re.MULTILINE)
    assert list(model.feature_names_in_) == list(COLUMNS)
    reference = GaussianMixture(3, missing="em", random_state=0).fit(holed)
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-9)


@pytest.mark.parametrize(("missing", "rows"), [("drop", None), ("em", 342)])
def test_missing_cells_drop_or_em(penguins, missing, rows):
    folder, _, holed = penguins
    result = _fit(
        folder / "penguins.csv",
        "-k",
        "2",
        "--columns",
        ",".join(COLUMNS),
        "--missing",
        missing,
        "-o",
        folder / f"{missing}.npz",
    )
    complete = int((~np.isnan(holed).any(axis=1)).sum())
    expected = complete if rows is None else rows
    assert f"mixture of {expected:,} rows x 4 features" in result.stdout
    if missing == "drop":
        assert f"{342 - complete} of 342 rows with a missing cell left out" in result.stderr


def test_columns_by_number_and_drop(penguins):
    folder, _, holed = penguins
    by_number = _fit(
        folder / "penguins.csv",
        "-k",
        "2",
        "--columns",
        "3,6",
        "--missing",
        "em",
        "-o",
        folder / "numbers.npz",
    )
    assert "x 2 features" in by_number.stdout
    assert list(load(folder / "numbers.npz").feature_names_in_) == [COLUMNS[0], COLUMNS[3]]
    dropped = _fit(
        folder / "penguins.csv",
        "-k",
        "2",
        "--drop",
        "species,island,sex,bill_depth_mm",
        "--missing",
        "em",
        "-o",
        folder / "dropped.npz",
    )
    assert "x 3 features" in dropped.stdout
    bad = _run("fit", str(folder / "penguins.csv"), "-k", "2", "--columns", "9", "-o", "x.npz")
    assert bad.returncode == 2 and "--columns '9': no such column" in bad.stderr


def test_later_commands_check_the_names(penguins, tmp_path):
    folder, _, holed = penguins
    model_path = folder / "em.npz"
    if not model_path.exists():
        _fit(folder / "penguins.csv", "-k", "3", "--skip-text", "--missing", "em", "-o", model_path)
    model = load(model_path)
    # the model's columns are found by name: reordered, with others around them
    reordered = tmp_path / "reordered.csv"
    order = [3, 0, 2, 1]
    lines = ["sex," + ",".join(COLUMNS[j] for j in order)]
    complete = holed[~np.isnan(holed).any(axis=1)]
    lines += ["x," + ",".join(repr(float(row[j])) for j in order) for row in complete]
    reordered.write_text("\n".join(lines) + "\n")
    scored = _run("score", str(model_path), str(reordered))
    assert scored.returncode == 0, scored.stderr
    assert "not in the model, not used: sex" in scored.stderr
    value = float(re.search(r"log-likelihood per row (-?[\d.]+)", scored.stdout).group(1))
    assert value == pytest.approx(model.score(complete), abs=1e-7)
    # a table without the model's columns is refused, naming what is missing
    iris = tmp_path / "iris.csv"
    iris.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n")
    refused = _run("score", str(model_path), str(iris))
    assert refused.returncode == 2
    assert "lacks 'bill_length_mm', 'bill_depth_mm'" in refused.stderr
    # plots use the names: --dims by name
    if pytest.importorskip("matplotlib"):
        picture = tmp_path / "dims.png"
        plotted = _run(
            "plot",
            str(model_path),
            str(folder / "penguins.csv"),
            "--dims",
            "bill_length_mm,body_mass_g",
            "-o",
            str(picture),
        )
        assert plotted.returncode == 0, plotted.stderr
        assert picture.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("semicolon.csv", "a;b\n1.5;2\n1;3\n2;4\n"),
        ("tabs.txt", "a\tb\n1.5\t2\n1\t3\n2\t4\n"),
        ("bom.csv", "\ufeffa,b\n1.5,2\n1,3\n2,4\n"),
        ("quoted.csv", '"a","b"\n"1.5","2"\n"1",3\n2,"4"\n'),
        ("pandas.csv", ",a,b\n0,1.5,2\n1,1,3\n2,2,4\n"),
        ("no-header.csv", "1.5,2\n1,3\n2,4\n"),
    ],
)
def test_delimiters_marks_quotes_index_and_headers(tmp_path, name, text):
    (tmp_path / name).write_text(text, encoding="utf-8")
    result = _run("fit", str(tmp_path / name), "-k", "1", "-o", str(tmp_path / "m.npz"))
    assert result.returncode == 0, result.stderr
    assert "mixture of 3 rows x 2 features" in result.stdout
    model = load(tmp_path / "m.npz")
    np.testing.assert_allclose(model.means_[0], [1.5, 3.0])
    if name == "pandas.csv":
        assert "numbers the rows (a pandas index); not fitted" in result.stderr
    if name == "no-header.csv":
        assert not hasattr(model, "feature_names_in_")
    else:
        assert list(model.feature_names_in_) == ["a", "b"]


def test_verbose_before_or_after_the_command(penguins):
    folder, _, _ = penguins
    common = ["fit", str(folder / "penguins.csv"), "-k", "2", "--skip-text", "--missing", "em"]
    after = _run(*common, "-o", str(folder / "v1.npz"), "-v")
    before = _run("-v", *common, "-o", str(folder / "v2.npz"))
    for result in (after, before):
        assert result.returncode == 0, result.stderr
        assert "Initialization 0" in result.stderr  # scikit-learn's verbose lines, logged
        assert "EM iteration 1:" not in result.stderr  # -vv's
    assert "EM iteration 1:" in _run(*common, "-o", str(folder / "v3.npz"), "-vv").stderr


def test_a_model_is_saved_as_npz_only(penguins):
    folder, _, _ = penguins
    result = _run("fit", str(folder / "penguins.csv"), "-k", "2", "--skip-text", "-o", "m.pkl")
    assert result.returncode == 2 and "saved as a .npz file" in result.stderr


def test_demo_leaves_the_working_folder_clean(tmp_path):
    result = _run("demo", "--n-samples", "5000", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []
    assert "1 threads" not in result.stdout


def test_info_lists_each_thread_pool_once():
    lines = _run("info").stdout.splitlines()
    pools = [line for line in lines if line.strip().startswith(("blas", "openmp"))]
    assert len(pools) == len(set(pools))


def test_marker_style_suits_the_number_of_points():
    from fastem._plot import marker_style

    few, many = marker_style(342), marker_style(1_000_000)
    assert few[0] >= 10 and few[1] >= 0.6  # a few hundred points are big and opaque
    assert many[0] <= 2 and many[1] <= 0.3
    assert marker_style(342)[0] * 342 == pytest.approx(marker_style(600)[0] * 600, rel=0.01)


PEAK_SCRIPT = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    from sklearn import config_context
    from fastem import GaussianMixture
    from fastem._io import read_table
    from fastem.bench_beyond_memory import peak_anonymous_growth
    from fastem.cli import main

    warnings.simplefilter("ignore")
    path, tiny, budget, output = sys.argv[1:5]
    # one-time set-ups, not part of what a file costs: the reader's, the kernels' threads
    read_table(tiny)
    main(["fit", tiny, "-k", "1", "-o", output])
    warm = np.random.default_rng(0).normal(size=(400_000, 4))
    GaussianMixture(4, covariance_type="diag", max_iter=2).fit(warm)
    del warm
    args = ["fit", path, "-k", "4", "--covariance", "diag", "--max-iter", "3", "--tol", "0",
            "--working-memory", budget, "-o", output]
    extra, status = peak_anonymous_growth(lambda: main(args))
    X = read_table(path, budget_bytes=1 << 34).X  # in memory: the same model?
    reference = GaussianMixture(4, covariance_type="diag", max_iter=3, tol=0, random_state=0)
    reference.fit(X)
    print(json.dumps({"extra": extra, "status": status, "means": reference.means_.tolist()}))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_four_times_the_budget_is_fitted_within_it(tmp_path, suffix):
    budget_mib = 32
    n_rows = 1_900_000 if suffix == ".csv" else 4_300_000
    X, _ = make_mixture(n_rows, 4, 4, random_state=0)
    table = pa.table({f"x{j}": X[:, j] for j in range(4)})
    path, tiny = tmp_path / f"big{suffix}", tmp_path / f"tiny{suffix}"
    write = pa_csv.write_csv if suffix == ".csv" else parquet.write_table
    write(table, str(path))
    write(table.slice(0, 10), str(tiny))
    assert os.path.getsize(path) > 4 * budget_mib * 2**20
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PEAK_SCRIPT,
            str(path),
            str(tiny),
            str(budget_mib),
            str(tmp_path / "m.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == 0
    assert "read from a temporary file" in result.stderr
    print(f"{suffix}: extra anonymous memory {outcome['extra'] / 2**20:.1f} MiB")
    assert outcome["extra"] < budget_mib * 2**20, outcome["extra"] / 2**20
    np.testing.assert_allclose(load(tmp_path / "m.npz").means_, outcome["means"], rtol=1e-12)


def test_a_large_npy_is_converted_in_chunks(tmp_path):
    """--dtype and a weights column on a .npy file beyond the budget: converted chunk by chunk."""
    X, _ = make_mixture(300_000, 3, 3, random_state=2)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, size=X.shape[0])
    np.save(tmp_path / "big.npy", np.c_[X, weights])
    result = _run(
        "fit",
        str(tmp_path / "big.npy"),
        "-k",
        "3",
        "--dtype",
        "float32",
        "--weights",
        "4",
        "--working-memory",
        "8",
        "-o",
        str(tmp_path / "m.npz"),
    )
    assert result.returncode == 0, result.stderr
    assert "read from a temporary file" in result.stderr
    assert "(float32)" in result.stdout
    model = load(tmp_path / "m.npz")
    reference = GaussianMixture(3, random_state=0).fit(X.astype(np.float32), sample_weight=weights)
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-5)


def test_a_column_without_any_value_is_named(tmp_path):
    (tmp_path / "empty-column.csv").write_text("a,b,c\n1,NA,2\n3,,4\n5,NA,7\n")
    result = _run(
        "fit",
        str(tmp_path / "empty-column.csv"),
        "-k",
        "1",
        "--missing",
        "em",
        "-o",
        str(tmp_path / "m.npz"),
    )
    assert result.returncode == 2
    assert "column 'b' (2) has no value in any row; leave it out with --drop b" in result.stderr
