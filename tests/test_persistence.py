"""Saved models: the .npz round trip, pickle, and files that must be refused."""

import json
import pickle
import subprocess
import sys
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import fastem._persistence
from fastem import GaussianMixture, load
from fastem.datasets import make_mixture

from .conftest import COVARIANCE_TYPES

FITTED = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "converged_",
    "n_iter_",
    "lower_bound_",
    "lower_bounds_",
    "n_features_in_",
    "backend_",
)


@pytest.fixture(scope="module")
def data():
    X, _ = make_mixture(3000, 3, 3, random_state=4)
    return X


def _fitted(X, **params):
    params = {"random_state": 0, "max_iter": 30, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(3, **params).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_loaded_model_predicts_exactly_as_the_saved_one(data, covariance_type, tmp_path):
    model = _fitted(data, covariance_type=covariance_type, tol=1e-5, reg_covar=1e-5)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = load(path)
    assert loaded.get_params() == model.get_params()
    for name in FITTED:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name), err_msg=name)
    np.testing.assert_array_equal(loaded.predict_proba(data), model.predict_proba(data))
    np.testing.assert_array_equal(loaded.score_samples(data), model.score_samples(data))
    np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
    assert loaded.bic(data) == model.bic(data)


def test_a_loaded_model_keeps_init_arrays_and_warm_starts(data, tmp_path):
    means = data[:3].copy()
    model = _fitted(data, means_init=means, warm_start=True, max_iter=3)
    model.save(tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.means_init, means)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data)
        loaded.fit(data)  # warm start from the loaded parameters: the same next iterations
    np.testing.assert_array_equal(loaded.means_, model.means_)


def test_feature_names_survive_the_round_trip(data, tmp_path):
    model = _fitted(data)
    model.feature_names_in_ = np.array(["a", "b", "c"], dtype=object)  # as a DataFrame fit sets
    model.save(tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert loaded.feature_names_in_.dtype == object
    assert list(loaded.feature_names_in_) == ["a", "b", "c"]


def test_pickle_round_trip(data):
    model = _fitted(data)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(data), model.predict_proba(data))


def test_saving_an_unfitted_model_is_refused(tmp_path):
    with pytest.raises(NotFittedError):
        GaussianMixture(2).save(tmp_path / "model.npz")


def test_a_newer_format_is_refused_with_a_clear_error(data, tmp_path, monkeypatch):
    model = _fitted(data)
    newer = fastem._persistence.FORMAT_VERSION + 1
    monkeypatch.setattr(fastem._persistence, "FORMAT_VERSION", newer)
    model.save(tmp_path / "model.npz")
    monkeypatch.undo()
    with pytest.raises(ValueError, match="model format 2 .* Upgrade fastem"):
        load(tmp_path / "model.npz")


def test_files_that_are_not_models_are_refused(tmp_path):
    np.savez(tmp_path / "arrays.npz", weights_=np.ones(2))
    with pytest.raises(ValueError, match="not a fastem model file"):
        load(tmp_path / "arrays.npz")
    np.savez(tmp_path / "pickled.npz", format=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match="not a fastem model file"):
        load(tmp_path / "pickled.npz")


# --- files that lie: every one a clear ValueError naming the file -----------------------------


def _rewrite(source, target, **changes):
    with np.load(source, allow_pickle=False) as archive:
        members = {name: archive[name] for name in archive.files}
    members.update(changes)
    for name in [name for name, value in members.items() if value is None]:
        del members[name]
    np.savez(target, **members)
    return target


@pytest.fixture
def saved(data, tmp_path):
    path = tmp_path / "model.npz"
    _fitted(data).save(path)
    return path


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"means_": np.zeros((3, 7))}, r"n_features_in_ is 3 but means_ has 7 columns"),
        ({"means_": np.zeros((4, 3))}, r"n_components is 3 but means_ has 4 rows"),
        (
            {"precisions_cholesky_": np.ones((3, 3))},
            r"precisions_cholesky_ has shape \(3, 3\); "
            r"the model needs \(3, 3, 3\)",
        ),
        ({"covariances_": np.ones((3, 3))}, r"covariances_ has shape"),
        ({"weights_": np.array([0.5, 0.5, 0.5])}, "sum to 1"),
        ({"precisions_cholesky_": -np.ones((3, 3, 3))}, "upper triangular"),
        ({"lower_bounds_": np.zeros(10**6)}, r"lower_bounds_ has shape \(1000000,\)"),
        ({"params": np.array("{not json")}, "not valid JSON"),
        ({"params": np.array('{"n_components": 3, "colour": 1}')}, "unknown parameter.*'colour'"),
        ({"params": np.array("[" * 5000 + "]" * 5000)}, "more than a model's"),
        ({"params": np.array('{"n_components": ' + "[" * 500 + "]" * 500 + "}")}, "nested deeper"),
        ({"n_features_in_": None}, "missing n_features_in_"),
        ({"extra": np.zeros(3)}, "unexpected member.*'extra'"),
        ({"backend_": np.array("gpu")}, "backend_ is 'gpu'"),
        ({"n_iter_": np.array(2.5)}, "n_iter_ has dtype float64; expected an integer"),
    ],
)
def test_a_model_file_that_disagrees_with_itself_is_refused(saved, tmp_path, changes, message):
    bad = _rewrite(saved, tmp_path / "bad.npz", **changes)
    with pytest.raises(ValueError, match=f"bad.npz: .*{message}"):
        load(bad)


def test_the_covariance_type_of_a_file_must_match_its_arrays(data, tmp_path):
    _fitted(data, covariance_type="tied").save(tmp_path / "tied.npz")
    params = json.loads(str(np.load(tmp_path / "tied.npz")["params"]))
    for covariance_type in ("full", "diag", "spherical"):
        bad = _rewrite(
            tmp_path / "tied.npz",
            tmp_path / "bad.npz",
            params=np.array(json.dumps({**params, "covariance_type": covariance_type})),
        )
        with pytest.raises(
            ValueError,
            match="bad.npz: (covariances_|precisions_cholesky_) "
            "(has shape|must have a positive diagonal)",
        ):
            load(bad)


def test_a_truncated_file_is_refused(saved, tmp_path):
    data = saved.read_bytes()
    for cut in (10, len(data) // 3, len(data) - 30):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        with pytest.raises(ValueError, match="cut.npz: "):
            load(tmp_path / "cut.npz")


def _peak_bytes(call):
    tracemalloc.start()
    try:
        call()
    except ValueError:
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_a_header_that_lies_about_its_shape_allocates_nothing(saved, tmp_path):
    from .model_fuzz import _lying_header, _members, _write

    _write(
        tmp_path / "lie.npz", {**_members(saved), "covariances_": _lying_header((1 << 29, 3, 3))}
    )
    with pytest.raises(ValueError, match=r"covariances_ has shape \(536870912, 3, 3\)"):
        load(tmp_path / "lie.npz")
    assert _peak_bytes(lambda: load(tmp_path / "lie.npz")) < 1 << 20


def test_a_zip_bomb_is_refused_before_it_expands(saved, tmp_path):
    from .model_fuzz import _lying_header, _members, _write

    _write(
        tmp_path / "bomb.npz",
        {**_members(saved), "covariances_": _lying_header((1 << 23,), n_bytes=1 << 26)},
        zipfile.ZIP_DEFLATED,
    )
    assert (tmp_path / "bomb.npz").stat().st_size < 1 << 20  # 64 MiB inside
    with pytest.raises(ValueError, match="would expand from"):
        load(tmp_path / "bomb.npz")
    assert _peak_bytes(lambda: load(tmp_path / "bomb.npz")) < 1 << 20


def test_float32_models_keep_their_dtype_through_a_file(data, tmp_path):
    model = _fitted(data.astype(np.float32))
    model.save(tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(loaded, name).dtype == np.float32, name
    np.testing.assert_array_equal(loaded.predict_proba(data), model.predict_proba(data))


def test_fuzzed_model_files_never_crash_and_never_overallocate(tmp_path):
    """At least 200 mutated files, each loaded and used in a subprocess that may crash."""
    from .model_fuzz import make_corpus

    paths = make_corpus(tmp_path / "corpus")
    assert len(paths) >= 200
    n_files = len(paths)
    results, crashes, start = {}, [], 0
    root = Path(__file__).resolve().parents[1]
    while start < n_files:
        process = subprocess.run(
            [sys.executable, "-m", "tests.model_fuzz", str(tmp_path / "corpus"), str(start)],
            capture_output=True,
            text=True,
            cwd=root,
            timeout=900,
        )
        last = start
        for line in process.stdout.splitlines():
            record = json.loads(line)
            if "outcome" in record:
                results[record["file"]] = record
            last = record.get("start", last)
        if process.returncode != 0:
            crashes.append((last, process.returncode, process.stderr[-500:]))
        start = last + 1
    assert not crashes, crashes
    assert len(results) == n_files
    wrong = {
        name: r["outcome"]
        for name, r in results.items()
        if r["outcome"] not in ("model", "ValueError")
    }
    assert not wrong, wrong
    assert sum(r["outcome"] == "ValueError" for r in results.values()) >= 200
    base_size = max(path.stat().st_size for path in paths if path.name.startswith("base-"))
    greedy = {
        name: r["peak"] for name, r in results.items() if r["peak"] > 8 * base_size + (1 << 20)
    }
    assert not greedy, greedy
