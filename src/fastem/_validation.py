"""Checks on the estimator's parameters, initial values and sample weights.

Every check raises before any work starts, with a message naming the
parameter and what was wrong with it. Checked arrays are copies: the caller's
arrays are never written to.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn import get_config
from sklearn.utils.validation import check_is_fitted

from ._mixture import Mixture, parameter_shape
from .backends import BACKEND_CHOICES
from .covariance import layout_of

INIT_METHODS = ("kmeans", "k-means++", "hc", "random", "random_from_data")


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
        raise ValueError(
            "The 'n_jobs' parameter must not be 0 (use 1 for one thread, "
            "-1 for every core, or None for the default)."
        )


def check_parameters(estimator) -> None:
    """Validate the hyper-parameters every fastem mixture shares, and its own if it has them."""
    _check_number("n_components", estimator.n_components, Integral, 1)
    _check_choice("covariance_type", estimator.covariance_type, estimator._covariance_types)
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
    if hasattr(estimator, "stopping"):
        _check_choice("stopping", estimator.stopping, ("lower_bound", "parameters", "both"))
        _check_number("param_tol", estimator.param_tol, Real, 0.0)
    if hasattr(estimator, "accelerate") and not isinstance(estimator.accelerate, (bool, np.bool_)):
        raise TypeError(f"The 'accelerate' parameter must be a bool; got {estimator.accelerate!r}.")
    if hasattr(estimator, "missing"):
        _check_choice("missing", estimator.missing, ("error", "em"))
    if hasattr(estimator, "fixed"):
        names = fixed_names(estimator.fixed)
        for name, init in (
            ("weights", "weights_init"),
            ("means", "means_init"),
            ("covariances", "precisions_init"),
        ):
            if name in names and getattr(estimator, init) is None:
                raise ValueError(
                    f"fixed={estimator.fixed!r} holds the {name} at {init}, which is not given."
                )


def check_positive(name: str, value) -> None:
    """Raise unless ``value`` is None or a real number > 0."""
    if value is not None:
        _check_number(name, value, Real, 0.0, strict=True)


def check_choice(name: str, value, choices) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    _check_choice(name, value, choices)


FIXABLE = ("weights", "means", "covariances")


def fixed_names(fixed) -> frozenset:
    """The parameters ``fixed`` names, checked: a subset of weights, means, covariances."""
    if fixed is None:
        return frozenset()
    names = [fixed] if isinstance(fixed, str) else list(fixed)
    unknown = [name for name in names if name not in FIXABLE]
    if unknown or not all(isinstance(name, str) for name in names):
        raise ValueError(f"The 'fixed' parameter names parameters among {FIXABLE}; got {fixed!r}.")
    return frozenset(names)


def float_array(name, value, shape):
    """A float64 copy of a parameter's array, checked for its shape and finiteness."""
    array = np.array(value, dtype=np.float64)  # a copy: never alias the caller's array
    if array.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, but got {array.shape}."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"The parameter '{name}' contains NaN or infinity.")
    return array


def check_weights_init(weights, n_components):
    # scikit-learn's tolerance on the sum: 1e-6 for float32 weights, 1e-8 otherwise
    atol = 1e-6 if getattr(weights, "dtype", None) == np.float32 else 1e-8
    weights = float_array("weights_init", weights, (n_components,))
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        raise ValueError(
            "The parameter 'weights_init' should be in the range [0, 1], but got "
            f"max value {weights.max():.5f}, min value {weights.min():.5f}."
        )
    if not np.isclose(weights.sum(), 1.0, rtol=0.0, atol=atol):
        raise ValueError(
            "The parameter 'weights_init' should be normalized, but got "
            f"sum(weights) = {weights.sum():.5f}."
        )
    return weights


def check_means_init(means, n_components, n_features):
    return float_array("means_init", means, (n_components, n_features))


def check_precisions_init(precisions, covariance_type, n_components, n_features):
    shape = parameter_shape(covariance_type, n_components, n_features)
    precisions = float_array("precisions_init", precisions, shape)
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
        raise ValueError(
            f"Found array with {n_samples} sample(s) (shape={X.shape}) while a "
            f"minimum of {min_samples} is required."
        )
    if n_features < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required."
        )


FINITE_CHECK_ROWS = 1 << 16  # rows per chunk: the check never holds an N×D mask


def check_finite(
    X, name: str = "X", row_offset: int = 0, allow_nan: bool = False
) -> tuple[float, float]:
    """Raise if X holds NaN or ±inf, saying how many and where the first one is.

    Scans X in row chunks, so its memory is a few MiB whatever the size of X.
    ``row_offset`` is the number of X's first row in the data it comes from.
    With ``allow_nan`` (missing values fitted by EM) only ±inf is refused.

    Returns
    -------
    low, high : float
        The smallest and the largest (non-NaN) value of X (for :func:`check_spread`).
    """
    n_nan = n_inf = 0
    first = None
    low, high = np.inf, -np.inf
    for start in range(0, X.shape[0], FINITE_CHECK_ROWS):
        chunk = X[start : start + FINITE_CHECK_ROWS]
        chunk_low, chunk_high = chunk.min(), chunk.max()  # NaN and ±inf show here
        if np.isfinite(chunk_low) and np.isfinite(chunk_high):
            low, high = min(low, float(chunk_low)), max(high, float(chunk_high))
            continue
        nan_mask = np.isnan(chunk)
        inf_mask = np.isinf(chunk)
        if allow_nan:
            finite = chunk[~(nan_mask | inf_mask)]
            if finite.size:
                low, high = min(low, float(finite.min())), max(high, float(finite.max()))
            nan_mask = np.zeros_like(nan_mask)
        n_nan += int(np.count_nonzero(nan_mask))
        n_inf += int(np.count_nonzero(inf_mask))
        bad = np.argwhere(nan_mask | inf_mask)
        if first is None and bad.size:
            row, column = bad[0]
            first = (row_offset + start + int(row), int(column), chunk[row, column])
    if first is None:
        return low, high
    raise NonFiniteError(n_nan, n_inf, non_finite_message(name, n_nan, n_inf, first), first)


def non_finite_message(name: str, n_nan: int, n_inf: int, first: tuple) -> str:
    """'Input X contains 2 NaN value(s); the first is nan at row 17, column 1. ...'"""
    counts = " and ".join(
        part
        for part in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} infinite" if n_inf else "")
        if part
    )
    row, column, value = first
    remedy = "Remove or impute them before fitting"
    if n_nan:
        remedy += (
            ", or fit GaussianMixture(missing='em'), which treats NaN entries as missing values"
        )
    return (
        f"Input {name} contains {counts} value(s); the first is {value} at row {row}, "
        f"column {column}. {remedy}."
    )


class NonFiniteError(ValueError):
    """NaN or ±inf in X; ``n_nan`` and ``n_inf`` count them (chunked checks add them up)."""

    def __init__(self, n_nan: int, n_inf: int, message: str, first: tuple | None = None):
        super().__init__(message)
        self.n_nan = n_nan
        self.n_inf = n_inf
        self.first = first  # (row, column, value) of the first one


def largest_span(n_samples: int, n_features: int, dtype) -> float:
    """The widest range of a column that EM's float64 sums of squares hold without overflow.

    A sum of N·D squared deviations, each at most span², stays below the
    float64 maximum when span < sqrt(max / (4 N D)); float32 rows are also
    rounded to float32 after centring, so their deviations stay below its maximum.
    """
    limit = float(
        np.sqrt(np.finfo(np.float64).max / (4.0 * max(n_samples, 1) * max(n_features, 1)))
    )
    if dtype == np.float32:
        limit = min(limit, float(np.finfo(np.float32).max))
    return limit


def _span(low, high):
    return 2.0 * (np.asarray(high) / 2.0 - np.asarray(low) / 2.0)  # halves: no overflow


def column_ranges(X) -> tuple[np.ndarray, np.ndarray]:
    """Each column's smallest and largest value, read in row chunks."""
    low = np.full(X.shape[1], np.inf)
    high = np.full(X.shape[1], -np.inf)
    for start in range(0, X.shape[0], FINITE_CHECK_ROWS):
        chunk = np.asarray(X[start : start + FINITE_CHECK_ROWS], dtype=np.float64)
        np.minimum(low, chunk.min(axis=0), out=low)
        np.maximum(high, chunk.max(axis=0), out=high)
    return low, high


def check_column_spans(low, high, n_samples: int, dtype, name: str = "X") -> None:
    """Raise if some column spans so wide a range that EM's sums of squares overflow."""
    spans = _span(low, high)
    limit = largest_span(n_samples, spans.size, dtype)
    column = int(np.argmax(spans))
    if not spans[column] <= limit:
        raise ValueError(
            f"Column {column} of {name} spans {spans[column]:.3g} (from {low[column]:.3g} to "
            f"{high[column]:.3g}): the sums of squared deviations of {n_samples} rows would "
            f"overflow floating point (the widest span that fits is {limit:.3g}). Divide "
            f"{name} by a constant such as 1e{int(np.ceil(np.log10(spans[column] / limit)))} "
            "and fit again."
        )


def check_spread(X, low: float, high: float, dtype, name: str = "X") -> None:
    """Raise if a column of X spans too wide a range for float64 sums (see largest_span).

    ``low`` and ``high`` are X's extremes (from :func:`check_finite`): when
    their distance fits, every column fits and nothing more is read; only
    otherwise are the columns' own ranges computed.
    """
    n_samples, n_features = X.shape
    if _span(low, high) <= largest_span(n_samples, n_features, dtype):
        return
    check_column_spans(*column_ranges(X), n_samples, dtype, name)


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
    """A float64 copy of the weights divided by their largest, or None for unit weights.

    Only ratios of weights matter to a maximum-likelihood fit; dividing by the
    largest makes it scale-free (weights of 1e-300 or 1e300 fit as weights of
    1 do, and their sum cannot overflow).
    """
    return scaled_sample_weight(sample_weight, n_samples)[0]


def scaled_sample_weight(sample_weight, n_samples):
    """(weights divided by their largest, the largest): see :func:`check_sample_weight`.

    The largest weight is the unit the divided weights count in: a model
    whose statistics depend on counts (the variational posterior) multiplies
    them back by it. (None, 1.0) for unit weights.
    """
    weights = sample_weight_array(sample_weight, n_samples)
    if weights is None:
        return None, 1.0
    weights = np.array(weights, dtype=np.float64)
    check_weight_values(weights)
    largest = weights.max()
    if largest <= 0:
        raise ValueError("sample_weight sums to zero: at least one row must have weight.")
    weights /= largest
    return weights, float(largest)


def check_weight_values(weights: np.ndarray) -> float:
    """Raise on NaN, infinite or negative weights; return the largest (0 for none)."""
    if not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight contains NaN or infinity.")
    if np.any(weights < 0):
        raise ValueError(
            f"sample_weight must be non-negative; {np.count_nonzero(weights < 0)} "
            "weights are negative."
        )
    return float(weights.max()) if weights.size else 0.0


NON_NUMERIC_KINDS = {
    "U": "strings",
    "S": "bytes",
    "V": "raw bytes",
    "M": "datetimes",
    "m": "timedeltas",
}


def numpy_input(X):
    """X, after refusing what fastem cannot fit: text, dates, arrays of other libraries.

    scikit-learn converts an array of numeric strings to numbers silently;
    fastem refuses it, as it refuses datetimes and timedeltas, so that no
    column of text or time is fitted as a number by accident. With
    ``sklearn.config_context(array_api_dispatch=True)`` an array of another
    array library (PyTorch, CuPy, array-api-strict) is refused with the way
    to hand it over, since fastem computes with NumPy on the CPU.
    """
    dtype = getattr(X, "dtype", None)
    kind = getattr(dtype, "kind", None)
    if kind in NON_NUMERIC_KINDS:
        raise ValueError(
            f"X holds {NON_NUMERIC_KINDS[kind]} (dtype {dtype}); fastem fits numbers only. "
            "Convert the columns you mean to fit to floats first (e.g. "
            "X.astype(np.float64) for numeric text, or drop the column)."
        )
    if (
        not isinstance(X, np.ndarray)
        and hasattr(X, "__array_namespace__")
        and get_config().get("array_api_dispatch", False)
        and type(X).__module__.split(".")[0] not in ("numpy", "dask")
    ):
        raise ValueError(
            f"fastem computes with NumPy on the CPU and got an array of type "
            f"{type(X).__module__}.{type(X).__name__} with scikit-learn's "
            "array_api_dispatch=True. Pass a NumPy "
            "array (np.asarray(X), or np.from_dlpack(X) for an array on the CPU); the "
            "results are NumPy arrays."
        )
    return X


def fitted_mixture(estimator) -> Mixture:
    """The estimator's fitted parameters as a float64 Mixture, checked first.

    The fitted arrays must agree with each other and with the estimator's
    current ``n_components``, ``covariance_type`` and ``n_features_in_``
    (``set_params`` after ``fit`` can change those), and be finite.

    Raises
    ------
    NotFittedError
        If the estimator was not fitted.
    ValueError
        Naming the attribute and the shapes that disagree.
    """
    check_is_fitted(estimator)
    covariance_type = estimator.covariance_type
    n_components = estimator.n_components
    n_features = getattr(estimator, "n_features_in_", None)
    _check_choice("covariance_type", covariance_type, estimator._covariance_types)
    fitted = estimator.__dict__.get("_mixture")
    layout = layout_of(covariance_type)
    if fitted is not None and fitted.covariance_type != layout:
        raise ValueError(
            f"The model was fitted with {fitted.covariance_type!r} covariances, but "
            f"covariance_type is now {covariance_type!r} ({layout!r}): fit again, or set it "
            "back."
        )
    if not isinstance(n_features, Integral) or n_features < 1:
        raise ValueError(f"n_features_in_ must be a positive int; it is {n_features!r}.")
    arrays = {
        name: fitted_array(estimator, name, shape)
        for name, shape in (
            ("weights_", (n_components,)),
            ("means_", (n_components, n_features)),
            ("precisions_cholesky_", parameter_shape(layout, n_components, n_features)),
        )
    }
    return Mixture(layout, arrays["weights_"], arrays["means_"], arrays["precisions_cholesky_"])


def fitted_array(estimator, name: str, shape: tuple) -> np.ndarray:
    """A fitted attribute as a float64 copy, checked for its shape and finite numbers.

    A tuple of arrays (the Dirichlet process's ``weight_concentration_``) is
    stacked first. The message names the parameters that fix the shape.
    """
    value = getattr(estimator, name)
    value = np.asarray(np.stack(value) if isinstance(value, tuple) else value)
    if value.shape != shape:
        raise ValueError(
            f"The fitted {name} has shape {value.shape}, but n_components="
            f"{estimator.n_components}, covariance_type={estimator.covariance_type!r} and "
            f"n_features_in_={getattr(estimator, 'n_features_in_', None)} need {shape}: fit "
            "again after changing parameters, or set them back."
        )
    if value.dtype.kind not in "fiu" or not np.all(np.isfinite(value)):
        raise ValueError(f"The fitted {name} must hold finite numbers.")
    return np.array(value, dtype=np.float64, order="C")
