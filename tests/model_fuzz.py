"""Mutated model files for the fuzz test of ``fastem.load``, and the worker that tries them.

``make_corpus(directory)`` writes valid models of every covariance type and
dtype, then, from each, files truncated, with bytes flipped, with members
reshaped, retyped, renamed, removed, duplicated or inflated, and with their
JSON parameters changed. ``python -m tests.model_fuzz DIRECTORY START`` loads
each file from the START-th on (sorted by name), uses the model it gets, and
prints one JSON line per file, so that a parent process can tell which file
crashed the interpreter, if any, and go on from the next.
"""

from __future__ import annotations

import io
import json
import sys
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np

N_ROWS = 400


def _data(n_features: int, rng) -> np.ndarray:
    return np.concatenate(
        [
            rng.normal(size=(N_ROWS // 2, n_features)),
            rng.normal(size=(N_ROWS // 2, n_features)) + 4.0,
        ]
    )


def _base_models(directory: Path) -> list[Path]:
    from fastem import GaussianMixture

    rng = np.random.default_rng(0)
    paths = []
    for covariance_type, dtype in (
        ("full", np.float64),
        ("tied", np.float64),
        ("diag", np.float64),
        ("spherical", np.float64),
        ("full", np.float32),
    ):
        X = _data(3, rng).astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GaussianMixture(
                2,
                covariance_type=covariance_type,
                random_state=0,
                max_iter=20,
                means_init=X[[0, -1]].astype(np.float64),
            )
            model.fit(X)
        if covariance_type == "diag":
            model.feature_names_in_ = np.array(["a", "b", "c"], dtype=object)
        path = directory / f"base-{covariance_type}-{np.dtype(dtype).name}.npz"
        model.save(path)
        paths.append(path)
    return paths


def _members(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _write(path: Path, members: dict, compression=zipfile.ZIP_STORED) -> None:
    """Members (arrays, or raw bytes for crafted .npy files) as an .npz archive."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, value in members.items():
            if isinstance(value, bytes):
                archive.writestr(f"{name}.npy", value)
            else:
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.asanyarray(value), allow_pickle=True)
                archive.writestr(f"{name}.npy", buffer.getvalue())


def _lying_header(shape: tuple, descr: str = "<f8", n_bytes: int = 64) -> bytes:
    """An .npy member whose header declares ``shape`` but which holds ``n_bytes`` of data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue() + b"\0" * n_bytes


def _member_mutations(members: dict, rng) -> list[tuple[str, dict]]:
    """(name, new members) for each change of one member."""
    out = []
    for key in (
        "weights_",
        "means_",
        "covariances_",
        "precisions_",
        "precisions_cholesky_",
        "lower_bounds_",
    ):
        value = members[key]
        changes = {
            "extra-row": np.concatenate([value, value[:1]]) if value.ndim else value,
            "extra-column": np.concatenate([value, value[..., :1]], axis=-1)
            if value.ndim
            else value,
            "flattened": value.ravel(),
            "3d": value.reshape((1,) * (3 - min(value.ndim, 3)) + value.shape),
            "int": value.astype(np.int64),
            "complex": value.astype(np.complex128),
            "text": value.astype(str),
            "nan": np.where(rng.random(value.shape) < 0.3, np.nan, value),
            "inf": np.full_like(value, np.inf),
            "negative": -np.abs(value),
            "zero": np.zeros_like(value),
            "object": value.astype(object),
            "huge-header": _lying_header((10**9,) + value.shape[1:]),
            "lying-header": _lying_header(tuple(2 * s for s in value.shape) or (7,)),
        }
        for name, changed in changes.items():
            out.append((f"{key}-{name}", {**members, key: changed}))
    for key, values in (
        ("n_features_in_", (7, 0, -1, 10**12, "3", 2.5)),
        ("n_iter_", (-1, 10**9, 3.5)),
        ("converged_", ("yes", 2.0)),
        ("lower_bound_", (np.nan, np.inf, "x")),
        ("backend_", ("gpu", 7, "numba" * 2000)),
        ("format_version", (0, 2, -5, "1")),
        ("format", ("fastem.Other", 1)),
        ("feature_names_in_", (np.array(["a"]), np.arange(3))),
    ):
        for value in values:
            out.append((f"{key}-{str(value)[:12]}", {**members, key: np.asarray(value)}))
    return out


def _params_mutations(members: dict) -> list[tuple[str, dict]]:
    params = json.loads(str(members["params"]))
    changed = {
        "not-json": "{'n_components': 2",
        "list": "[1, 2, 3]",
        "nested": "[" * 100_000 + "]" * 100_000,
        "deep-dict": '{"a": ' * 50 + "1" + "}" * 50,
        "unknown-key": json.dumps({**params, "evil": 1}),
        "missing-key": json.dumps({k: v for k, v in params.items() if k != "tol"}),
        "n_components-3": json.dumps({**params, "n_components": 3}),
        "n_components-str": json.dumps({**params, "n_components": "2"}),
        "n_components-0": json.dumps({**params, "n_components": 0}),
        "covariance-other": json.dumps({**params, "covariance_type": "bogus"}),
        "random_state-str": json.dumps({**params, "random_state": "seed"}),
        "means_init-ragged": json.dumps({**params, "means_init": [[1, 2], [3]]}),
        "means_init-shape": json.dumps({**params, "means_init": [[1, 2]]}),
        "tol-negative": json.dumps({**params, "tol": -1}),
        "backend-other": json.dumps({**params, "backend": "gpu"}),
        "huge": json.dumps({**params, "means_init": [[0.0] * 10] * 20_000}),
    }
    for covariance_type in ("full", "tied", "diag", "spherical"):
        changed[f"covariance-{covariance_type}"] = json.dumps(
            {**params, "covariance_type": covariance_type, "means_init": None}
        )
    return [
        (f"params-{name}", {**members, "params": np.array(text)}) for name, text in changed.items()
    ]


def _archive_mutations(members: dict) -> list[tuple[str, dict | bytes]]:
    missing = [
        (f"missing-{key}", {k: v for k, v in members.items() if k != key})
        for key in ("weights_", "params", "n_features_in_", "format")
    ]
    return missing + [
        ("extra-member", {**members, "extra": np.ones(3)}),
        ("pickle-member", {**members, "weights_": np.array([{"evil": 1}], dtype=object)}),
    ]


def _byte_mutations(data: bytes, rng, n: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        cut = int(rng.integers(1, len(data)))
        out.append((f"truncated-{i}", data[:cut]))
    for i in range(n):
        flipped = bytearray(data)
        for position in rng.integers(0, len(data), size=1 + i % 16):
            flipped[position] ^= int(rng.integers(1, 256))
        out.append((f"flipped-{i}", bytes(flipped)))
    return out


def make_corpus(directory: Path, byte_mutations: int = 12) -> list[Path]:
    """Write the valid models and their mutations; return every file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    paths = []
    for base in _base_models(directory):
        paths.append(base)
        members = _members(base)
        stem = base.stem.removeprefix("base-")
        cases = (
            _member_mutations(members, rng)
            + _params_mutations(members)
            + _archive_mutations(members)
        )
        for name, changed in cases:
            path = directory / f"{stem}-{name}.npz"
            _write(path, changed)
            paths.append(path)
        for name, data in _byte_mutations(base.read_bytes(), rng, byte_mutations):
            path = directory / f"{stem}-{name}.npz"
            path.write_bytes(data)
            paths.append(path)
        bomb = directory / f"{stem}-zip-bomb.npz"
        _write(
            bomb,
            {**members, "covariances_": _lying_header((1 << 23,), n_bytes=1 << 26)},
            zipfile.ZIP_DEFLATED,
        )
        duplicate = directory / f"{stem}-duplicate-member.npz"
        _write(duplicate, members)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns of the duplicate name
            with zipfile.ZipFile(duplicate, "a") as archive:
                archive.writestr("weights_.npy", b"\x93NUMPY")
        paths += [bomb, duplicate]
    return paths


def try_file(path: Path) -> dict:
    """Load ``path`` and use the model; what happened, and the peak bytes allocated."""
    import fastem

    X = _data(3, np.random.default_rng(2))
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = fastem.load(path)
            proba = model.predict_proba(X)
            scores = model.score_samples(X)
            model.sample(5)
        outcome = (
            "model" if np.all(np.isfinite(proba)) and np.all(np.isfinite(scores)) else "non-finite"
        )
    except ValueError as error:
        outcome = "ValueError" if str(path) in str(error) else f"unnamed ValueError: {error}"
    except Exception as error:  # noqa: BLE001 - every other exception is a finding
        outcome = f"{type(error).__name__}: {error}"[:300]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"file": path.name, "outcome": outcome, "peak": peak}


def main(directory: str, start: int) -> None:
    paths = sorted(Path(directory).glob("*.npz"))
    for path in paths:  # imports, and the kernels of every base model's dtype and layout
        if path.name.startswith("base-"):
            try_file(path)
    for index in range(start, len(paths)):
        print(json.dumps({"start": index}), flush=True)
        print(json.dumps({"index": index, **try_file(paths[index])}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
