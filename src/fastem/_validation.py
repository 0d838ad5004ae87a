"""Checks on the estimator's parameters, initial values and sample weights.

Every check raises before any work starts, with a message naming the
parameter and what was wrong with it. Checked arrays are copies: the caller's
arrays are never written to.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from ._mixture import COVARIANCE_TYPES
from .backends import BACKEND_CHOICES

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")


def _check_number(name, value, kind, minimum, *, strict=False):
    if isinstance(value, bool) or not isinstance(value, kind):
        expected = "an int" if kind is Integral else "a real number"
        raise TypeError(f"The '{name}' parameter must be {expected}; got {value!r}.")
    if value < minimum or (strict and value == minimum) or value != value:
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise ValueError(f"The '{name}' parameter must be {bound}; got {value!r}.")


def _check_choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"The '{name}' parameter must be one of {options}; got {value!r}.")


def _check_n_jobs(n_jobs):
    if n_jobs is None:
        return
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral):
        raise TypeError(f"The 'n_jobs' parameter must be an int or None; got {n_jobs!r}.")
    if n_jobs == 0:
        raise ValueError("The 'n_jobs' parameter must not be 0 (use 1 for one thread, "
                         "-1 for every core, or None for the default).")


def check_parameters(estimator) -> None:
    """Validate the hyper-parameters of a GaussianMixture."""
    _check_number("n_components", estimator.n_components, Integral, 1)
    _check_choice("covariance_type", estimator.covariance_type, COVARIANCE_TYPES)
    _check_number("tol", estimator.tol, Real, 0.0)
    _check_number("reg_covar", estimator.reg_covar, Real, 0.0)
    _check_number("max_iter", estimator.max_iter, Integral, 0)
    _check_number("n_init", estimator.n_init, Integral, 1)
    _check_choice("init_params", estimator.init_params, INIT_METHODS)
    _check_choice("backend", estimator.backend, BACKEND_CHOICES)
    _check_n_jobs(estimator.n_jobs)
    _check_number("verbose", estimator.verbose, Integral, 0)
    _check_number("verbose_interval", estimator.verbose_interval, Integral, 1)
    if not isinstance(estimator.warm_start, (bool, np.bool_)):
        raise TypeError(f"The 'warm_start' parameter must be a bool; got {estimator.warm_start!r}.")


def _as_float_array(name, value, shape):
    array = np.array(value, dtype=np.float64)  # a copy: never alias the caller's array
    if array.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, but got {array.shape}."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"The parameter '{name}' contains NaN or infinity.")
    return array


def check_weights_init(weights, n_components):
    weights = _as_float_array("weights_init", weights, (n_components,))
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        raise ValueError(
            "The parameter 'weights_init' should be in the range [0, 1], but got "
            f"max value {weights.max():.5f}, min value {weights.min():.5f}."
        )
    if not np.isclose(weights.sum(), 1.0, rtol=0.0, atol=1e-8):
        raise ValueError(
            "The parameter 'weights_init' should be normalized, but got "
            f"sum(weights) = {weights.sum():.5f}."
        )
    return weights


def check_means_init(means, n_components, n_features):
    return _as_float_array("means_init", means, (n_components, n_features))


def check_precisions_init(precisions, covariance_type, n_components, n_features):
    shape = {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]
    precisions = _as_float_array("precisions_init", precisions, shape)
    if covariance_type in ("diag", "spherical"):
        if np.any(precisions <= 0.0):
            raise ValueError(
                f"The parameter 'precisions_init' ({covariance_type}) should be positive."
            )
        return precisions
    matrices = precisions if covariance_type == "full" else precisions[None]
    for k, matrix in enumerate(matrices):
        symmetric = np.allclose(matrix, matrix.T)
        if not symmetric or np.linalg.eigvalsh(matrix).min() <= 0.0:
            where = f" (component {k})" if covariance_type == "full" else ""
            raise ValueError(
                f"The parameter 'precisions_init' ({covariance_type}){where} should be "
                "symmetric, positive-definite."
            )
    return precisions


def check_out_of_core_array(X, min_samples: int = 2) -> None:
    """Shape and dtype of a memory-mapped X (its values are checked chunk by chunk)."""
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D array, got a {X.ndim}D memory map of shape {X.shape}.")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"The memory-mapped X must hold numbers; its dtype is {X.dtype}.")
    n_samples, n_features = X.shape
    if n_samples < min_samples:
        raise ValueError(f"Found array with {n_samples} sample(s) (shape={X.shape}) while a "
                         f"minimum of {min_samples} is required.")
    if n_features < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of "
                         "1 is required.")


FINITE_CHECK_ROWS = 1 << 16  # rows per chunk: the check never holds an N×D mask


def check_finite(X, name: str = "X", row_offset: int = 0) -> None:
    """Raise if X holds NaN or ±inf, saying how many and where the first one is.

    Scans X in row chunks, so its memory is a few MiB whatever the size of X.
    ``row_offset`` is the number of X's first row in the data it comes from.
    """
    n_nan = n_inf = 0
    first = None
    for start in range(0, X.shape[0], FINITE_CHECK_ROWS):
        chunk = X[start:start + FINITE_CHECK_ROWS]
        if np.isfinite(chunk.sum()):  # fast path: a finite sum means finite entries
            continue
        nan_mask = np.isnan(chunk)
        inf_mask = np.isinf(chunk)
        n_nan += int(np.count_nonzero(nan_mask))
        n_inf += int(np.count_nonzero(inf_mask))
        bad = np.argwhere(nan_mask | inf_mask)
        if first is None and bad.size:
            row, column = bad[0]
            first = (row_offset + start + int(row), int(column), chunk[row, column])
    if first is None:
        return
    counts = " and ".join(
        part for part in (f"{n_nan} NaN" if n_nan else "",
                          f"{n_inf} infinite" if n_inf else "") if part
    )
    row, column, value = first
    raise ValueError(
        f"Input {name} contains {counts} value(s); the first is {value} at row {row}, "
        f"column {column}. Remove or impute them before fitting."
    )


def sample_weight_array(sample_weight, n_samples):
    """The weights as an array of shape (n_samples,), not copied, or None; values unchecked."""
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight)
    if weights.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must be numeric; got dtype {weights.dtype}.")
    if weights.ndim == 0:
        weights = np.broadcast_to(weights, (n_samples,))
    if weights.ndim != 1 or weights.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight.shape == {weights.shape}, expected {(n_samples,)}: one "
            "weight per row of X."
        )
    return weights


def check_sample_weight(sample_weight, n_samples):
    """A float64 copy of the weights, or None for unit weights."""
    weights = sample_weight_array(sample_weight, n_samples)
    if weights is None:
        return None
    weights = np.array(weights, dtype=np.float64)
    if check_weight_values(weights) <= 0:
        raise ValueError("sample_weight sums to zero: at least one row must have weight.")
    return weights


def check_weight_values(weights: np.ndarray) -> float:
    """Raise on NaN, infinite or negative weights; return their sum."""
    if not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight contains NaN or infinity.")
    if np.any(weights < 0):
        raise ValueError(
            f"sample_weight must be non-negative; {np.count_nonzero(weights < 0)} "
            "weights are negative."
        )
    return float(weights.sum())
