"""Saved models: a documented ``.npz`` format that loads without pickle.

A file holds plain arrays only, so :func:`load` opens it with
``allow_pickle=False`` and loading an untrusted file cannot run code:

=================== ==========================================================
key                 content
=================== ==========================================================
``format``          ``"fastem.GaussianMixture"`` or ``"fastem.BayesianGaussianMixture"``
``format_version``  int; a file from a newer format is refused with a clear error
``fastem_version``  the version of fastem that saved it
``params``          the constructor parameters as JSON (``*_init`` arrays as lists)
``weights_``, ``means_``, ``covariances_``, ``precisions_``,
``precisions_cholesky_``, ``lower_bounds_``
                    the fitted arrays, float64
``converged_``, ``n_iter_``, ``lower_bound_``, ``n_features_in_``, ``backend_``
                    the fitted scalars
``feature_names_in_`` column names seen during fit (only if there were any)
(the variational    ``weight_concentration_`` ((2, K) for the Dirichlet process),
mixture also)       ``mean_precision_``, ``degrees_of_freedom_``, ``weight_concentration_prior_``,
                    ``mean_precision_prior_``, ``mean_prior_``, ``degrees_of_freedom_prior_``,
                    ``covariance_prior_`` (its ``_saved_array_names``), float64
=================== ==========================================================
"""

from __future__ import annotations

import importlib
import json
import os
import zipfile
import zlib

import numpy as np

from ._mixture import (
    covariances_from_cholesky,
    parameter_shape,
    precisions_from_cholesky,
)
from .covariance import layout_of

FORMAT = "fastem.GaussianMixture"
ESTIMATORS: dict[str, type] = {}  # format tag -> estimator class, filled by register()
# The modules whose estimators register a format (imported by load(): the package imports lazily).
ESTIMATOR_MODULES = ("fastem.gaussian_mixture", "fastem.bayesian_mixture")


def register(tag: str, estimator_class: type) -> None:
    """Let :func:`load` build ``estimator_class`` from files tagged ``tag``."""
    ESTIMATORS[tag] = estimator_class


FORMAT_VERSION = 1
FITTED_ARRAYS = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
    "lower_bounds_",
)
FITTED_SCALARS = ("converged_", "n_iter_", "lower_bound_", "n_features_in_", "backend_")
HEADER_KEYS = ("format", "format_version", "fastem_version", "params")
MEMBERS = HEADER_KEYS + FITTED_ARRAYS + FITTED_SCALARS + ("feature_names_in_",)
REQUIRED = HEADER_KEYS + FITTED_ARRAYS + FITTED_SCALARS

# What a file may hold, checked on the members' headers before any array is read.
MAX_NPY_HEADER = 1 << 12  # bytes of an .npy header (numpy's are 128 for these arrays)
MAX_COMPRESSION = 50  # a member may expand at most this much (float arrays barely compress)
MAX_TEXT_CHARS = 1 << 12  # format tags, versions, a backend's name, one feature's name
MAX_JSON_DEPTH = 8  # params hold lists of at most 3 levels (precisions_init)
PARAMS_CHARS_PER_NUMBER = 32  # a float written by json.dumps, with its separator


class ModelFileError(ValueError):
    """A model file that is not a valid fastem model; the message names file and problem."""


def _json_ready(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


def save(model, path: str | os.PathLike) -> None:
    """Write a fitted mixture to ``path`` (see the module docstring for the format)."""
    from sklearn.utils.validation import check_is_fitted

    from . import __version__

    check_is_fitted(model)
    params = {name: _json_ready(value) for name, value in model.get_params(deep=False).items()}
    if not isinstance(params["random_state"], (int, type(None))):
        params["random_state"] = None  # a RandomState object is not part of the model
    tag = next(tag for tag, cls in ESTIMATORS.items() if cls is type(model))
    contents = {
        "format": np.array(tag),
        "format_version": np.array(FORMAT_VERSION),
        "fastem_version": np.array(__version__),
        "params": np.array(json.dumps(params)),
    }
    dtype = np.float32 if np.asarray(model.means_).dtype == np.float32 else np.float64
    contents.update(
        {
            name: np.asarray(getattr(model, name), dtype=dtype)
            for name in FITTED_ARRAYS
            if name != "lower_bounds_"
        }
    )
    contents["lower_bounds_"] = np.asarray(model.lower_bounds_, dtype=np.float64)
    contents.update(model._saved_arrays())
    contents.update({name: np.array(getattr(model, name)) for name in FITTED_SCALARS})
    if hasattr(model, "feature_names_in_"):
        contents["feature_names_in_"] = np.asarray(model.feature_names_in_, dtype=str)
    with open(path, "wb") as handle:  # np.savez would append ".npz" to a path without it
        np.savez(handle, **contents)


def load(path: str | os.PathLike):
    """Read a GaussianMixture written by :meth:`GaussianMixture.save`, trusting nothing.

    Before any array is read, every member's declared shape, dtype and size
    is checked against the model it claims to be (K components, D features,
    its covariance type): nothing larger than that model is ever allocated.
    Then every value is checked: known keys only, finite numbers, weights
    that sum to 1, precision factors upper-triangular with a positive
    diagonal, precisions and covariances consistent with them, parameters
    the constructor accepts.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file.

    Returns
    -------
    model : GaussianMixture
        The fitted model; it predicts exactly as the saved one did.

    Raises
    ------
    ValueError
        One clear message naming the file and the problem, for any file that
        is not a valid fastem model (truncated, corrupted, tampered with, or
        written in a newer format than this fastem reads).
    """
    for module in ESTIMATOR_MODULES:
        importlib.import_module(module)
    with open(path, "rb") as file:  # a missing file is the usual FileNotFoundError
        try:
            if file.read(4) != b"PK\x03\x04":  # an .npz is a zip archive
                _fail("not a fastem model file (not an .npz archive)")
            with zipfile.ZipFile(file) as archive:
                return _read_model(archive, os.fstat(file.fileno()).st_size)
        except ModelFileError as error:
            raise ValueError(f"{os.fspath(path)}: {error}") from None
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            EOFError,
            OSError,
            ValueError,
            NotImplementedError,
            RuntimeError,
            OverflowError,
            zlib.error,
        ) as error:
            raise ValueError(
                f"{os.fspath(path)}: not a readable fastem model file, truncated "
                f"or corrupted ({type(error).__name__}: {error})"
            ) from None


def _fail(message: str):
    raise ModelFileError(message)


def _members(archive: zipfile.ZipFile, file_size: int) -> tuple[dict, type]:
    """The archive's members by key and the class its format tag names, all checked."""
    members = {}
    compressed = 0
    for info in archive.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if key in members:
            _fail(f"member {key[:80]!r} appears twice")
        members[key] = info
        compressed += info.compress_size
    if compressed > file_size:
        _fail("its members claim more bytes than the file has (truncated or crafted)")
    for key, info in members.items():
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            _fail(f"member {key[:80]!r} uses an unsupported compression")
        if info.file_size > MAX_COMPRESSION * info.compress_size + MAX_NPY_HEADER:
            _fail(
                f"member {key[:80]!r} would expand from {info.compress_size} to "
                f"{info.file_size} bytes"
            )
    try:
        tag = _read(archive, members, "format", "U", ())[()] if "format" in members else None
    except ModelFileError as error:
        _fail(f"not a fastem model file ({error})")
    if tag not in ESTIMATORS:
        _fail(f"not a fastem model file (no '{FORMAT}' format tag)")
    estimator_class = ESTIMATORS[str(tag)]
    known = MEMBERS + estimator_class._saved_array_names
    unexpected = sorted(set(members) - set(known))
    if unexpected:
        _fail(
            f"unexpected member(s) {', '.join(repr(key[:80]) for key in unexpected[:5])} "
            f"(a {tag} model holds {', '.join(known)})"
        )
    missing = [key for key in REQUIRED + estimator_class._saved_array_names if key not in members]
    if missing:
        _fail(f"missing {', '.join(missing)}")
    return members, estimator_class


def _header(archive, info) -> tuple:
    """(shape, dtype, header bytes) of an .npy member, read without its data."""
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            reader = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran_order, dtype = reader(member, max_header_size=MAX_NPY_HEADER)
        except (ValueError, TypeError, SyntaxError) as error:
            _fail(f"member {info.filename!r} has no valid .npy header ({error})")
        return shape, dtype, member.tell()


def _read(
    archive,
    members: dict,
    key: str,
    kind: str,
    shape: tuple | None,
    max_itemsize: int | None = None,
):
    """Member ``key`` as an array of the expected kind and shape (checked before reading).

    ``kind`` is a string of allowed dtype kinds ('f', 'U', 'iu', 'b'); ``shape``
    None accepts any shape (checked by the caller before it matters).
    """
    info = members[key]
    declared, dtype, header_bytes = _header(archive, info)
    if (
        dtype.hasobject
        or dtype.kind not in kind
        or (dtype.kind == "f" and dtype.itemsize not in (4, 8))
    ):
        _fail(f"{key} has dtype {dtype}; expected {_KIND_NAMES[kind]}")
    if shape is not None and declared != shape:
        _fail(f"{key} has shape {declared}; the model needs {shape}")
    limit = MAX_TEXT_CHARS * 4 if max_itemsize is None and dtype.kind == "U" else max_itemsize
    if limit is not None and dtype.itemsize > limit:
        _fail(f"{key} holds {dtype.itemsize}-byte items, more than a model's {limit}")
    n_bytes = dtype.itemsize * int(np.prod(declared, dtype=np.int64))
    if header_bytes + n_bytes != info.file_size:
        _fail(
            f"{key} declares {declared} {dtype} ({n_bytes} bytes) but holds "
            f"{info.file_size - header_bytes}"
        )
    with archive.open(info) as member:
        array = np.lib.format.read_array(member, allow_pickle=False, max_header_size=MAX_NPY_HEADER)
    return array


_KIND_NAMES = {
    "f": "float32 or float64",
    "U": "text",
    "iu": "an integer",
    "b": "a bool",
    "fiu": "a number",
}


def _depth(value, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, list):
        return max((_depth(item, level + 1) for item in value), default=level + 1)
    if isinstance(value, dict):
        return max((_depth(item, level + 1) for item in value.values()), default=level + 1)
    return level


def _params(archive, members, estimator_class: type, n_components: int, n_features: int) -> dict:
    """The constructor parameters, from bounded, checked JSON."""
    n_numbers = 4 * n_components * (1 + n_features + n_features**2)  # the *_init arrays, if any
    max_chars = (1 << 12) + PARAMS_CHARS_PER_NUMBER * n_numbers
    text = _read(archive, members, "params", "U", (), max_itemsize=4 * max_chars)
    try:
        params = json.loads(str(text[()]))
    except (ValueError, RecursionError) as error:
        _fail(f"its parameters are not valid JSON ({str(error)[:100]})")
    if not isinstance(params, dict):
        _fail("its parameters are not a JSON object")
    if _depth(params) > MAX_JSON_DEPTH:
        _fail("its parameters are nested deeper than a model's")
    known = estimator_class().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        _fail(f"unknown parameter(s) {', '.join(map(repr, unknown))[:200]}")
    for name in ("weights_init", "means_init", "precisions_init"):
        if params.get(name) is not None:
            try:
                params[name] = np.asarray(params[name], dtype=np.float64)
            except (ValueError, TypeError) as error:
                _fail(f"parameter {name} is not an array of numbers ({error})")
    if not isinstance(params.get("random_state"), (int, type(None))):
        _fail("parameter random_state must be an int or null")
    return params


def _scalar(archive, members, key: str, kind: str):
    return _read(archive, members, key, kind, ())[()]


def _read_model(archive: zipfile.ZipFile, file_size: int):
    from .backends import BACKENDS

    members, estimator_class = _members(archive, file_size)
    version = _scalar(archive, members, "format_version", "iu")
    if version > FORMAT_VERSION:
        fastem_version = _scalar(archive, members, "fastem_version", "U")
        _fail(
            f"saved in model format {version} by fastem {fastem_version}; this fastem "
            f"reads format {FORMAT_VERSION} and older. Upgrade fastem to load it."
        )
    if version < 1:
        _fail(f"unknown model format {version}")
    means_shape, _, _ = _header(archive, members["means_"])
    if len(means_shape) != 2 or min(means_shape) < 1:
        _fail(f"means_ has shape {means_shape}; expected (n_components, n_features)")
    n_components, n_features = means_shape
    params = _params(archive, members, estimator_class, n_components, n_features)
    try:
        model = estimator_class(**params)
        model._check_hyperparameters()
        model._checked_init_arrays(n_features)
    except (TypeError, ValueError) as error:
        _fail(f"invalid parameters: {error}")
    if model.n_components != n_components:
        _fail(f"n_components is {model.n_components} but means_ has {n_components} rows")
    covariance_type = layout_of(model.covariance_type)
    model.n_features_in_ = int(_scalar(archive, members, "n_features_in_", "iu"))
    if model.n_features_in_ != n_features:
        _fail(f"n_features_in_ is {model.n_features_in_} but means_ has {n_features} columns")
    n_iter = int(_scalar(archive, members, "n_iter_", "iu"))
    if n_iter < 0:
        _fail(f"n_iter_ is {n_iter}")
    model.n_iter_ = n_iter
    model.converged_ = bool(_scalar(archive, members, "converged_", "b"))
    model.lower_bound_ = float(_scalar(archive, members, "lower_bound_", "f"))
    model.backend_ = str(_scalar(archive, members, "backend_", "U"))
    if model.backend_ not in BACKENDS:
        _fail(f"backend_ is {model.backend_[:40]!r}, not one of {', '.join(BACKENDS)}")
    parameters = parameter_shape(covariance_type, n_components, n_features)
    for key, shape in (
        ("weights_", (n_components,)),
        ("means_", means_shape),
        ("covariances_", parameters),
        ("precisions_", parameters),
        ("precisions_cholesky_", parameters),
    ):
        setattr(model, key, _read(archive, members, key, "f", shape))
    lower_bounds = _read(archive, members, "lower_bounds_", "f", (n_iter,))
    model.lower_bounds_ = lower_bounds.tolist()
    if "feature_names_in_" in members:
        names = _read(archive, members, "feature_names_in_", "U", (n_features,))
        model.feature_names_in_ = names.astype(object)
    model._load_arrays(
        {
            key: _read(archive, members, key, "f", shape)
            for key, shape in model._saved_shapes(n_components, n_features).items()
        }
    )
    _check_values(model, lower_bounds)
    model._restore_mixture()
    return model


def _relative_error(actual, expected) -> float:
    scale = float(np.max(np.abs(expected))) or 1.0
    return float(np.max(np.abs(np.asarray(actual, np.float64) - expected))) / scale


def _check_values(model, lower_bounds) -> None:
    """The fitted values: finite, weights on the simplex, consistent precisions."""
    for key in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        if not np.all(np.isfinite(getattr(model, key))):
            _fail(f"{key} holds NaN or infinity")
    if (
        not np.all(np.isfinite(lower_bounds))
        or np.isnan(model.lower_bound_)
        or model.lower_bound_ == np.inf
    ):
        _fail("lower_bound_ or lower_bounds_ holds NaN or +infinity")
    weights = model.weights_.astype(np.float64)
    if np.any(weights < 0) or abs(weights.sum() - 1.0) > 1e-5:
        _fail(f"weights_ must be non-negative and sum to 1 (they sum to {weights.sum():.6g})")
    covariance_type = layout_of(model.covariance_type)
    prec_chol = model.precisions_cholesky_.astype(np.float64)
    float32 = model.precisions_cholesky_.dtype == np.float32
    if covariance_type in ("full", "tied"):
        stack = prec_chol if covariance_type == "full" else prec_chol[None]
        if np.any(np.tril(stack, -1) != 0.0):
            _fail("precisions_cholesky_ must be upper triangular")
        diagonal = np.diagonal(stack, axis1=-2, axis2=-1)
    else:
        diagonal = prec_chol
    if np.any(diagonal <= 0.0):
        _fail("precisions_cholesky_ must have a positive diagonal")
    epsilon = np.finfo(np.float32 if float32 else np.float64).eps
    precisions = precisions_from_cholesky(prec_chol, covariance_type)
    if _relative_error(model.precisions_, precisions) > 1e3 * epsilon:
        _fail("precisions_ disagree with precisions_cholesky_")
    covariances = covariances_from_cholesky(prec_chol, covariance_type)
    condition = float(np.max(diagonal) / np.min(diagonal)) ** 2  # a lower bound of cond(Σ)
    if covariance_type in ("full", "tied"):
        condition = max(
            condition,
            float(
                np.max(
                    np.linalg.cond(covariances if covariance_type == "full" else covariances[None])
                )
            ),
        )
    if _relative_error(model.covariances_, covariances) > 1e3 * epsilon * condition + 1e-8:
        _fail("covariances_ disagree with precisions_cholesky_")
